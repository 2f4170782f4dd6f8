// usage.js: what the user's turns used over a window (the analytics overview, tokens per day and
// per model) and the budgets that cap them, with what each has spent and left and when it resets.
// A group admin can look at a group's instead.

import { request } from './api.js';
import { $, h, clear, when } from './dom.js';
import { groupOptions } from './groups.js';

// n formats a count for people.
function n(x) {
  return Number(x ?? 0).toLocaleString();
}

// count is a number of things, named in the singular or the plural as it needs.
function count(x, one, many = `${one}s`) {
  return `${n(x)} ${Number(x) === 1 ? one : many}`;
}

// figure is one term of the overview: a label and its value, with details after it.
function figure(label, value, details = '') {
  return [h('dt', {}, label), h('dd', {}, h('strong', {}, value), details ? h('span', { class: 'muted' }, ` ${details}`) : null)];
}

// capLine is one capped measure of a budget's window: what is spent of the cap, as a meter.
function capLine(window, measure, used, cap) {
  if (cap === null || cap === undefined) return null;
  return h('li', { class: 'cap', 'data-cap': `${window}-${measure}` },
    h('span', { class: 'name' }, `${window === 'day' ? 'Today' : 'This month'}, ${measure}`),
    h('meter', { min: 0, max: Math.max(cap, 1), value: Math.min(used, cap), high: cap * 0.8, optimum: 0 }),
    h('span', { class: 'spent' }, `${n(used)} of ${n(cap)}`));
}

export function createUsage(report) {
  const days = $('usage-days');
  const scope = $('usage-scope');
  const overview = $('usage-overview');
  const budgets = $('budgets');
  const timeline = $('usage-timeline');
  const models = $('usage-models');
  let groupNames = new Map();

  function budgetItem(b) {
    const whose = b.user_id ? 'Your budget' : `Group ${groupNames.get(b.group_id) ?? b.group_id}`;
    const caps = h('ul', { class: 'caps' },
      capLine('day', 'tokens', b.day.tokens, b.daily_tokens), capLine('day', 'turns', b.day.turns, b.daily_turns),
      capLine('month', 'tokens', b.month.tokens, b.monthly_tokens), capLine('month', 'turns', b.month.turns, b.monthly_turns));
    const left = [b.remaining.tokens !== null ? count(b.remaining.tokens, 'token') : '',
      b.remaining.turns !== null ? count(b.remaining.turns, 'turn') : ''].filter(Boolean).join(' and ');
    return h('li', { class: 'budget', 'data-budget': b.user_id ? 'user' : b.group_id },
      h('span', { class: 'name' }, whose),
      h('span', { class: 'muted' }, `${left ? `${left} left` : 'no cap'} · the day resets ${when(b.day_resets_at)}, the month ${when(b.month_resets_at)}`),
      caps);
  }

  function renderOverview(o) {
    clear(overview);
    const avg = o.turns.avg_duration_ms === null ? '' : `, ${(o.turns.avg_duration_ms / 1000).toFixed(1)} s on average`;
    const rate = o.tool_runs.success_rate === null ? '' : `, ${Math.round(o.tool_runs.success_rate * 100)}% succeeded`;
    overview.append(
      ...figure('Turns', n(o.turns.total), `${n(o.turns.completed)} completed, ${n(o.turns.failed)} failed, ${n(o.turns.cancelled)} cancelled, ${n(o.turns.active)} running${avg}`),
      ...figure('Tokens', n(o.tokens.total), `${n(o.tokens.prompt)} prompt, ${n(o.tokens.completion)} completion`),
      ...figure('Sessions', n(o.sessions.active), `active, ${n(o.sessions.new)} new`),
      ...figure('Tool calls', n(o.tool_runs.total), `${n(o.tool_runs.failed)} failed${rate}`),
      ...figure('Ingestion runs', n(o.ingestion.runs), `${n(o.ingestion.completed)} completed, ${n(o.ingestion.failed)} failed`));
    for (const dd of overview.querySelectorAll('dd')) dd.dataset.figure = dd.previousElementSibling.textContent;
    clear(budgets);
    for (const b of o.budgets) budgets.append(budgetItem(b));
    if (o.budgets.length === 0) budgets.append(h('li', { class: 'muted' }, 'No budget applies: these turns are not capped.'));
  }

  function renderTimeline(t) {
    clear(timeline);
    const used = t.buckets.filter((b) => b.turns > 0).reverse(); // the newest day first
    const most = Math.max(1, ...used.map((b) => b.total_tokens));
    for (const b of used) {
      timeline.append(h('li', { class: 'day', 'data-day': b.start.slice(0, 10) },
        h('span', { class: 'name' }, new Date(b.start).toLocaleDateString(undefined, { timeZone: 'UTC' })),
        h('meter', { min: 0, max: most, value: b.total_tokens }),
        h('span', { class: 'muted' }, `${count(b.total_tokens, 'token')}, ${count(b.turns, 'turn')}`)));
    }
    if (used.length === 0) timeline.append(h('li', { class: 'muted' }, 'No turns in this window.'));
    clear(models);
    for (const m of t.models) {
      models.append(h('li', { class: 'model', 'data-model': m.model },
        h('span', { class: 'name' }, m.model),
        h('span', { class: 'muted' }, `${count(m.total_tokens, 'token')} (${n(m.prompt_tokens)} prompt, ${n(m.completion_tokens)} completion), ${count(m.turns, 'turn')}`)));
    }
    if (t.models.length === 0) models.append(h('li', { class: 'muted' }, 'No model used in this window.'));
  }

  async function load() {
    const q = new URLSearchParams({ days: days.value });
    if (scope.value) q.set('group_id', scope.value);
    const [o, t] = await Promise.all([request('GET', `/v1/analytics/overview?${q}`),
      request('GET', `/v1/analytics/tokens-timeline?${q}&interval=day`)]);
    renderOverview(o);
    renderTimeline(t);
  }

  // fillScope offers the user's own usage and that of each group they administer.
  async function fillScope() {
    const groups = await groupOptions(scope, { none: 'Your turns', only: (g) => g.role === 'admin' });
    groupNames = new Map(groups.map((g) => [g.id, g.name]));
  }

  for (const control of [days, scope]) control.addEventListener('change', () => load().catch(report));

  return {
    enter: async () => {
      await fillScope();
      await load();
    },
    reset: () => {
      for (const el of [overview, budgets, timeline, models]) clear(el);
      scope.replaceChildren(h('option', { value: '' }, 'Your turns'));
      days.value = '30';
    },
  };
}
