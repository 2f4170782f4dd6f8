// groups.js: the user's groups: create one, see its members, and (as its admin) add members by
// username, change their role or remove them. Chat sessions are shared with a group from the
// Chat tab's "Shared with" choice (groupOptions fills it).

import { request } from './api.js';
import { $, h, clear, twoClick } from './dom.js';

// myGroups is the user's groups with their role in each.
export async function myGroups() {
  return (await request('GET', '/v1/groups/me')).items;
}

// groupOptions fills a <select> with a first choice (value "", none: "Personal") and the user's
// groups that only accepts (default: all), keeping the choice made if it is still offered. It
// returns all the user's groups.
export async function groupOptions(select, { none = 'Personal', only = () => true } = {}) {
  const groups = await myGroups();
  const chosen = select.value;
  const offered = groups.filter(only);
  select.replaceChildren(h('option', { value: '' }, none),
    ...offered.map((g) => h('option', { value: g.id }, `Group: ${g.name}`)));
  if (offered.some((g) => g.id === chosen)) select.value = chosen;
  return groups;
}

export function createGroups(report) {
  const list = $('groups');
  const detail = $('group-detail');
  const members = $('members');
  const addForm = $('add-member');
  let open = null; // the group shown: {id, role}

  async function load() {
    const groups = await myGroups();
    clear(list);
    for (const g of groups) {
      list.append(h('li', { class: 'group', 'data-group': g.id },
        h('span', { class: 'name' }, g.name), h('span', { class: 'badge' }, g.role),
        h('button', { type: 'button', class: 'small', on: { click: () => show(g).catch(report) } }, 'Members')));
    }
    if (groups.length === 0) list.append(h('li', { class: 'muted' }, 'No groups yet.'));
  }

  async function show(g) {
    const data = await request('GET', `/v1/groups/${g.id}`);
    open = { id: g.id, role: g.role };
    $('group-name').textContent = data.name;
    $('group-description').textContent = data.description || '';
    const admin = g.role === 'admin';
    addForm.hidden = !admin;
    clear(members);
    for (const m of data.members) {
      const li = h('li', { class: 'member', 'data-user': m.user_id, 'data-role': m.role },
        h('span', { class: 'name' }, m.username), h('span', { class: 'badge' }, m.role));
      if (admin) {
        const other = m.role === 'admin' ? 'member' : 'admin';
        const role = h('button', { type: 'button', class: 'small role' }, `Make ${other}`);
        role.addEventListener('click', () => change(`/v1/groups/${g.id}/members/${m.user_id}`, 'PUT', { role: other }));
        const remove = h('button', { type: 'button', class: 'small remove deny' }, 'Remove');
        twoClick(remove, `Remove ${m.username}?`, () => change(`/v1/groups/${g.id}/members/${m.user_id}`, 'DELETE'));
        li.append(h('span', { class: 'actions' }, role, remove));
      }
      members.append(li);
    }
    detail.hidden = false;
  }

  // change sends a change to the open group and shows the group again (the server decides: a
  // group keeps at least one admin).
  async function change(path, method, body) {
    try {
      await request(method, path, body);
    } catch (err) {
      report(err);
    }
    const g = (await myGroups()).find((x) => x.id === open.id);
    await load();
    if (g) await show(g);
    else detail.hidden = true;
  }

  $('new-group').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    try {
      const g = await request('POST', '/v1/groups', { name: form.elements.name.value.trim(), description: form.elements.description.value.trim() });
      form.reset();
      await load();
      await show(g);
    } catch (err) {
      report(err);
    }
  });

  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    try {
      await request('POST', `/v1/groups/${open.id}/members`, { username: form.elements.username.value.trim(), role: form.elements.role.value });
      form.reset();
      await show(open);
    } catch (err) {
      report(err);
    }
  });

  return {
    enter: load,
    reset: () => {
      clear(list);
      clear(members);
      detail.hidden = true;
      open = null;
    },
  };
}
