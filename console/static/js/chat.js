// chat.js: sessions and their turns. A turn is followed live on its event stream: tokens are
// appended as they arrive, tool calls and their results are shown, a call waiting for approval
// gets Approve and Deny buttons, and a running turn can be cancelled. A session's messages form a
// tree: an answer can be regenerated and a message of the user edited, each starting a turn on a
// new branch, and where the tree forks the transcript switches between the versions.

import { request, follow } from './api.js';
import { $, h, clear, when, brief } from './dom.js';
import { groupOptions } from './groups.js';

const TURN_EVENTS = ['turn.started', 'step.started', 'step.finished', 'token', 'tool.call', 'tool.result',
  'approval.required', 'message', 'turn.completed', 'turn.failed', 'turn.cancelled'];
const TURN_END = ['turn.completed', 'turn.failed', 'turn.cancelled'];
const UNFINISHED = new Set(['running', 'waiting_approval']);

// idempotencyKey names one send, so a repeated request cannot start a second turn.
function idempotencyKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function createChat(report) {
  const transcript = $('transcript');
  const composer = $('composer');
  const cancelButton = $('cancel-turn');
  let session = null; // the open session
  let live = null; // the turn being followed: {id, view, stop}

  function setBusy(turn) {
    live = turn;
    const open = session !== null;
    composer.elements.content.disabled = !open;
    $('send').disabled = !open || turn !== null;
    cancelButton.disabled = turn === null;
    // While a turn runs, the session's tree cannot change: the branch actions are hidden.
    transcript.classList.toggle('busy', turn !== null);
  }

  function stopFollowing() {
    if (live) live.stop();
    setBusy(null);
  }

  async function loadSessions() {
    const list = await request('GET', '/v1/sessions?limit=100');
    const ul = $('sessions');
    clear(ul);
    for (const s of list.items) {
      const current = session && session.id === s.id;
      ul.append(h('li', {},
        h('button', { type: 'button', class: current ? 'link current' : 'link', 'data-session': s.id,
          on: { click: () => openSession(s.id).catch(report) } },
        s.title || 'Untitled session', h('span', { class: 'muted' }, when(s.last_turn_at || s.created_at)))));
    }
    if (list.items.length === 0) ul.append(h('li', { class: 'muted' }, 'No sessions yet.'));
  }

  async function openSession(id) {
    stopFollowing();
    const data = await request('GET', `/v1/sessions/${id}`);
    session = data.session;
    $('session-title').textContent = session.title || 'Untitled session';
    clear(transcript);
    if (data.messages_truncated) transcript.append(h('li', { class: 'muted' }, 'Older messages are not shown.'));
    const last = data.turns[data.turns.length - 1];
    const running = last && UNFINISHED.has(last.status) ? last : null;
    const results = new Map(); // tool call id → its result's element in the transcript
    const branch = new Set(data.active_branch || []); // messages holds every branch: show the active one
    const forks = versionsOf(data.messages);
    let lastAnswer = null; // the active branch's last answer: {message, element}
    for (const m of data.messages) {
      if (branch.size > 0 && !branch.has(m.id)) continue;
      if (running && m.turn_id === running.id && m.role !== 'user') continue; // replayed from its events
      const node = renderMessage(m, results);
      if (!node) continue;
      const el = node.nodeType === Node.DOCUMENT_FRAGMENT_NODE ? node.firstChild : node;
      if (forks.has(m.id)) actionsOf(el).append(switcher(m, forks.get(m.id)));
      if (m.role === 'user') actionsOf(el).append(editButton(m, el));
      if (m.role === 'assistant' && m.turn_id) lastAnswer = { message: m, el };
      transcript.append(node);
    }
    if (lastAnswer && !running) actionsOf(lastAnswer.el).append(regenerateButton(lastAnswer.message.turn_id));
    setBusy(null);
    if (running) followTurn(running.id, running.events_url);
    await loadSessions();
    scrollDown();
  }

  // versionsOf maps each message at a fork of the session's tree to its versions: the children of
  // its parent (a regenerated answer, an edited message), oldest first.
  function versionsOf(messages) {
    const children = new Map();
    for (const m of messages) {
      const key = m.parent_id ?? '';
      if (!children.has(key)) children.set(key, []);
      children.get(key).push(m);
    }
    const out = new Map();
    for (const list of children.values()) {
      if (list.length > 1) for (const m of list) out.set(m.id, list);
    }
    return out;
  }

  // switcher shows which version of versions m is and moves the session's active branch to the
  // one before or after it.
  function switcher(m, versions) {
    const i = versions.findIndex((v) => v.id === m.id);
    const go = (j) => async () => {
      try {
        await request('PUT', `/v1/sessions/${session.id}/active-branch`, { message_id: versions[j].id });
        await openSession(session.id);
      } catch (err) {
        report(err);
      }
    };
    return h('span', { class: 'versions', 'data-version': `${i + 1}/${versions.length}` },
      h('button', { type: 'button', class: 'small prev', disabled: i === 0, 'aria-label': 'Previous version', on: { click: go(i - 1) } }, '‹'),
      ` ${i + 1}/${versions.length} `,
      h('button', { type: 'button', class: 'small next', disabled: i === versions.length - 1, 'aria-label': 'Next version', on: { click: go(i + 1) } }, '›'));
  }

  // branchOff sends the request (POST path with body) that starts a turn on a new branch, with
  // button disabled meanwhile, then shows the session again: the new branch is the active one, and
  // its turn is followed while it runs. A refused request re-enables the button.
  async function branchOff(button, path, body) {
    button.disabled = true;
    try {
      await request('POST', `/v1/sessions/${session.id}${path}`, body, { 'Idempotency-Key': idempotencyKey() });
      await openSession(session.id);
    } catch (err) {
      button.disabled = false;
      report(err);
    }
  }

  // actionsOf is the row of a message's actions (versions, Edit, Regenerate), made on first use.
  function actionsOf(el) {
    return el.querySelector(':scope > .actions') ?? el.appendChild(h('span', { class: 'actions' }));
  }

  // regenerateButton asks the model to answer the user message of turnID again.
  function regenerateButton(turnID) {
    const b = h('button', { type: 'button', class: 'small regenerate' }, 'Regenerate');
    b.addEventListener('click', () => branchOff(b, `/turns/${turnID}/regenerate`));
    return b;
  }

  // editButton offers a new version of the user message m, shown as el.
  function editButton(m, el) {
    return h('button', { type: 'button', class: 'small edit', on: { click: () => startEdit(m, el) } }, 'Edit');
  }

  // startEdit turns the user message m (shown as el) into a form for a new version of it.
  function startEdit(m, el) {
    if (el.querySelector('form.edit')) return;
    const text = h('textarea', { name: 'content', rows: 3, required: true, maxlength: 100000, 'aria-label': 'New version of the message' });
    text.value = m.content;
    const form = h('form', { class: 'edit' }, text, h('div', { class: 'buttons' },
      h('button', { type: 'submit' }, 'Send this version'),
      h('button', { type: 'button', class: 'cancel-edit', on: { click: () => form.remove() } }, 'Cancel')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (text.value.trim()) branchOff(form.querySelector('button[type=submit]'), `/messages/${m.id}/edit`, { content: text.value });
    });
    el.append(form);
    text.focus();
  }

  // renderMessage draws a stored message (null when a tool result went inside its call).
  function renderMessage(m, results) {
    if (m.role === 'tool') {
      const slot = results.get(m.tool_call_id);
      const pre = h('pre', { class: 'result' }, brief(m.content));
      if (slot) {
        slot.append(pre);
        return null;
      }
      return h('li', { class: 'tool' }, h('p', { class: 'tool-head' }, `Tool ${m.tool_name || ''} returned`), pre);
    }
    if (m.tool_calls && m.tool_calls.length) {
      const frag = document.createDocumentFragment();
      for (const call of m.tool_calls) {
        const li = h('li', { class: 'tool', 'data-call': call.id },
          h('p', { class: 'tool-head' }, 'Tool call ', h('code', {}, call.name)),
          h('pre', { class: 'args' }, JSON.stringify(call.arguments ?? {}, null, 2)));
        results.set(call.id, li);
        frag.append(li);
      }
      return frag;
    }
    return h('li', { class: `msg ${m.role}`, 'data-message': m.id }, h('p', { class: 'text' }, m.content));
  }

  async function send(content) {
    const r = await request('POST', `/v1/sessions/${session.id}/messages`, { content },
      { 'Idempotency-Key': idempotencyKey() });
    const sent = h('li', { class: 'msg user' }, h('p', { class: 'text' }, content));
    transcript.append(sent);
    followTurn(r.turn_id, r.events_url, sent);
    scrollDown();
  }

  // editable gives the message just sent (shown as el) its Edit button once its turn has ended,
  // when the stored message's id is known.
  async function editable(sid, turnID, el) {
    const data = await request('GET', `/v1/sessions/${sid}`);
    const m = data.messages.find((x) => x.turn_id === turnID && x.role === 'user');
    if (!m || !el.isConnected || session?.id !== sid) return;
    el.dataset.message = m.id;
    actionsOf(el).append(editButton(m, el));
  }

  // followTurn shows a turn live from its event stream; sent, when set, is the message that
  // started it, shown before the turn's first event.
  function followTurn(turnID, eventsURL, sent) {
    const sid = session.id;
    const view = turnView(sid, turnID);
    transcript.append(view.el);
    const turn = { id: turnID, view, stop: () => {} };
    setBusy(turn);
    turn.stop = follow(eventsURL, TURN_EVENTS, TURN_END, (name, data) => {
      view.on(name, data);
      scrollDown();
      if (TURN_END.includes(name) && live === turn) {
        setBusy(null);
        loadSessions().catch(report);
        if (sent) editable(sid, turnID, sent).catch(report);
      }
    }, (err) => {
      view.note('the event stream was lost');
      if (live === turn) setBusy(null);
      report(err);
    });
  }

  // turnView is a live turn in the transcript: its answers (one per model step), its tool calls
  // and its status.
  function turnView(sid, turnID) {
    const statusEl = h('p', { class: 'turn-status' }, 'running…');
    const el = h('li', { class: 'turn', 'data-turn': turnID, 'data-status': 'running' }, h('ol', { class: 'steps' }), statusEl);
    const steps = el.firstChild;
    const answers = new Map(); // step → {li, text node}
    const calls = new Map(); // call id → tool call element
    let lastAnswer = null;

    const answer = (step) => {
      let a = answers.get(step);
      if (!a) {
        const text = document.createTextNode('');
        const li = h('li', { class: 'msg assistant', 'data-step': step }, h('p', { class: 'text' }, text));
        steps.append(li);
        a = { li, text };
        answers.set(step, a);
      }
      lastAnswer = a;
      return a;
    };

    const call = (id, name) => {
      let c = calls.get(id);
      if (!c) {
        const li = h('li', { class: 'tool', 'data-call': id, 'data-status': 'called' },
          h('p', { class: 'tool-head' }, 'Tool call ', h('code', {}, name || 'tool'), ' ', h('span', { class: 'badge' }, 'called')));
        steps.append(li);
        c = { li, badge: li.querySelector('.badge'), approval: null };
        calls.set(id, c);
      }
      return c;
    };

    const setCallStatus = (c, status) => {
      c.li.dataset.status = status;
      c.badge.textContent = status;
    };

    const setStatus = (status, detail) => {
      el.dataset.status = status;
      statusEl.textContent = detail ? `${status}: ${detail}` : status;
    };

    const approval = (c, data) => {
      const decide = async (approved) => {
        for (const b of buttons) b.disabled = true;
        try {
          await request('POST', `/v1/sessions/${sid}/turns/${turnID}/approvals/${encodeURIComponent(data.call_id)}`, { approved });
          box.replaceChildren(h('p', {}, approved ? 'Approved; running the tool…' : 'Denied.'));
        } catch (err) {
          for (const b of buttons) b.disabled = false;
          report(err);
        }
      };
      const buttons = [
        h('button', { type: 'button', class: 'approve', on: { click: () => decide(true) } }, 'Approve'),
        h('button', { type: 'button', class: 'deny', on: { click: () => decide(false) } }, 'Deny'),
      ];
      const why = data.reason === 'untrusted_content'
        ? 'The conversation holds untrusted content; this call needs your approval.'
        : 'This tool needs your approval.';
      const box = h('div', { class: 'approval' }, h('p', {}, why,
        data.expires_at ? ` Decide before ${when(data.expires_at)}.` : ''), ...buttons);
      c.approval = box;
      c.li.append(box);
    };

    return {
      el,
      note: (text) => {
        statusEl.textContent = text;
      },
      on(name, data) {
        switch (name) {
          case 'step.started':
            if (data.kind === 'llm' && data.attempt > 1 && answers.has(data.step)) {
              answers.get(data.step).text.data = ''; // a retried model call streams its answer again
            }
            if (data.kind === 'tool') setCallStatus(call(data.call_id, data.name), 'running');
            break;
          case 'token':
            answer(data.step).text.appendData(data.delta ?? '');
            break;
          case 'tool.call': {
            const c = call(data.call_id, data.name);
            c.li.append(h('pre', { class: 'args' }, JSON.stringify(data.arguments ?? {}, null, 2)));
            break;
          }
          case 'approval.required': {
            const c = call(data.call_id, data.name);
            setCallStatus(c, 'waiting for approval');
            setStatus('waiting_approval', 'a tool call waits for your decision');
            approval(c, data);
            break;
          }
          case 'tool.result': {
            const c = call(data.call_id, data.name);
            if (c.approval) c.approval.remove();
            setCallStatus(c, data.status);
            c.li.append(h('pre', { class: 'result' }, brief(data.content) + (data.truncated ? '\n(truncated)' : '')));
            if (el.dataset.status === 'waiting_approval') setStatus('running');
            break;
          }
          case 'message':
            if (data.role === 'assistant' || !data.role) {
              (lastAnswer || answer(0)).text.data = data.content ?? '';
            }
            break;
          case 'turn.completed':
            setStatus('completed');
            break;
          case 'turn.failed':
            setStatus('failed', (data.error && data.error.message) || 'the turn failed');
            break;
          case 'turn.cancelled':
            setStatus('cancelled');
            break;
          default:
        }
        // However it ended, the turn's answer can be asked for again.
        if (TURN_END.includes(name)) actionsOf(el).append(regenerateButton(turnID));
      },
    };
  }

  function scrollDown() {
    transcript.scrollTop = transcript.scrollHeight;
  }

  $('new-session').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    try {
      const body = { title: form.elements.title.value.trim() };
      if (form.elements.group.value) body.group_id = form.elements.group.value;
      const s = await request('POST', '/v1/sessions', body);
      form.reset();
      await openSession(s.id);
    } catch (err) {
      report(err);
    }
  });

  composer.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const content = composer.elements.content.value;
    if (!session || live || !content.trim()) return;
    $('send').disabled = true;
    try {
      await send(content);
      composer.reset();
    } catch (err) {
      setBusy(live);
      report(err);
    }
  });

  cancelButton.addEventListener('click', async () => {
    if (!live) return;
    cancelButton.disabled = true;
    try {
      await request('POST', `/v1/sessions/${session.id}/turns/${live.id}/cancel`);
      live.view.note('cancelling…');
    } catch (err) {
      cancelButton.disabled = false;
      report(err);
    }
  });

  return {
    enter: () => Promise.all([loadSessions(), groupOptions($('new-session').elements.group)]),
    reset() {
      stopFollowing();
      session = null;
      clear(transcript);
      clear($('sessions'));
      $('session-title').textContent = 'Choose or create a session';
      setBusy(null);
    },
  };
}
