// tools.js: the MCP servers the user registered, personal or shared with a group: register one
// (the server lists its tools and their descriptions are pinned), see each tool's state, approve
// a description that changed since (a changed tool is off until then), remove a server.
// Approving and removing take the server's owner, or for a group's server a group admin.

import { request } from './api.js';
import { $, h, clear, when, brief, twoClick } from './dom.js';
import { myGroups, groupOptions } from './groups.js';

// toolState is what a registered tool is now: on, waiting for an approval, or off.
function toolState(t) {
  if (t.pending_approval) return 'changed';
  return t.enabled ? 'enabled' : 'disabled';
}

export function createTools(report) {
  const list = $('servers');
  const form = $('new-server');

  // mayChange says whether the user decides for srv: its owner, or an admin of its group.
  function mayChange(srv, admin) {
    return srv.group_id ? admin.has(srv.group_id) : srv.is_owner;
  }

  function toolItem(srv, t, canChange) {
    const state = toolState(t);
    const li = h('li', { class: 'server-tool', 'data-tool': t.name, 'data-state': state },
      h('span', { class: 'name' }, t.name), h('span', { class: 'badge' }, state),
      h('span', { class: 'muted' }, brief(t.description, 300)));
    if (state !== 'changed') return li;
    li.append(h('p', { class: 'changed' }, h('strong', {}, 'New description: '), brief(t.new_description, 2000)));
    if (!canChange) {
      li.append(h('span', { class: 'muted' }, srv.group_id ? 'A group admin approves it.' : 'Its owner approves it.'));
      return li;
    }
    // The approval names the description read here: one that changed again since is refused.
    const approve = h('button', { type: 'button', class: 'small approve' }, 'Approve the new description');
    twoClick(approve, 'Approve: the model will read it', async () => {
      try {
        await request('POST', `/v1/mcp-servers/${srv.id}/tools/${encodeURIComponent(t.name)}/approve`,
          { description_sha256: t.new_description_sha256 });
        await load();
      } catch (err) {
        approve.disabled = false;
        report(err);
        await load().catch(report);
      }
    });
    li.append(approve);
    return li;
  }

  function serverRow(srv, groups, admin) {
    const canChange = mayChange(srv, admin);
    const shared = srv.group_id ? `group ${groups.get(srv.group_id) ?? srv.group_id}` : 'personal';
    const li = h('li', { class: 'server', 'data-server': srv.id },
      h('span', { class: 'name' }, srv.name), h('span', { class: 'badge' }, shared),
      h('span', { class: 'muted' }, [srv.url, srv.requires_approval ? 'every call asks for approval' : '',
        `timeout ${srv.timeout_ms / 1000} s`, `registered ${when(srv.created_at)}`].filter(Boolean).join(' · ')));
    if (canChange) {
      const remove = h('button', { type: 'button', class: 'small remove deny' }, 'Remove');
      twoClick(remove, 'Remove: turns stop offering its tools', async () => {
        try {
          await request('DELETE', `/v1/mcp-servers/${srv.id}`);
          await load();
        } catch (err) {
          remove.disabled = false;
          report(err);
        }
      });
      li.append(remove);
    }
    const tools = h('ul', { class: 'tools' }, srv.tools.map((t) => toolItem(srv, t, canChange)));
    if (srv.tools.length === 0) tools.append(h('li', { class: 'muted' }, 'No tools.'));
    li.append(tools);
    return li;
  }

  async function load() {
    const [servers, mine] = await Promise.all([request('GET', '/v1/mcp-servers'), myGroups()]);
    const groups = new Map(mine.map((g) => [g.id, g.name]));
    const admin = new Set(mine.filter((g) => g.role === 'admin').map((g) => g.id));
    clear(list);
    for (const srv of servers.items) list.append(serverRow(srv, groups, admin));
    if (servers.items.length === 0) list.append(h('li', { class: 'muted' }, 'No tool servers registered.'));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: form.elements.name.value.trim(), url: form.elements.url.value.trim(),
      requires_approval: form.elements.requires_approval.checked };
    if (form.elements.group.value) body.group_id = form.elements.group.value;
    // Registering waits for the server to list its tools (up to 15 s).
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      await request('POST', '/v1/mcp-servers', body);
      form.reset();
      await load();
    } catch (err) {
      report(err);
    } finally {
      submit.disabled = false;
    }
  });

  return {
    enter: async () => {
      await groupOptions(form.elements.group);
      await load();
    },
    reset: () => {
      clear(list);
      form.reset();
    },
  };
}
