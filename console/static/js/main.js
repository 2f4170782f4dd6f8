// main.js: the console's entry point: creating an account, logging in and out, and the Chat,
// Documents, Search, Groups, Tools, Usage and API keys tabs.

import { APIError, currentUser, login, logout, register } from './api.js';
import { $, show } from './dom.js';
import { createChat } from './chat.js';
import { createDocuments } from './documents.js';
import { createSearch } from './search.js';
import { createKeys } from './keys.js';
import { createGroups } from './groups.js';
import { createTools } from './tools.js';
import { createUsage } from './usage.js';

const VIEWS = ['loading', 'login-view', 'chat-view', 'documents-view', 'search-view', 'groups-view', 'tools-view', 'usage-view', 'keys-view'];

// report shows an error to the user; a 401 means the login has ended.
function report(err) {
  if (err instanceof APIError && err.status === 401) {
    loggedOut('Your login has ended; log in again.');
    return;
  }
  const notice = $('notice');
  const ref = err instanceof APIError && err.code ? ` (${err.code}${err.requestID ? `, request ${err.requestID}` : ''})` : '';
  notice.textContent = `${err.message}${ref}`;
  notice.hidden = false;
}

function dismiss() {
  $('notice').hidden = true;
}

const tabs = {
  chat: createChat(report),
  documents: createDocuments(report),
  search: createSearch(report),
  groups: createGroups(report),
  tools: createTools(report),
  usage: createUsage(report),
  keys: createKeys(report),
};

function openTab(name) {
  dismiss();
  for (const b of document.querySelectorAll('#tabs .tab')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  show(VIEWS, `${name}-view`);
  Promise.resolve(tabs[name].enter()).catch(report);
}

function loggedIn(user) {
  $('username').textContent = user.username;
  $('who').hidden = false;
  $('tabs').hidden = false;
  openTab('chat');
}

function loggedOut(message) {
  for (const t of Object.values(tabs)) t.reset();
  $('who').hidden = true;
  $('tabs').hidden = true;
  show(VIEWS, 'login-view');
  if (message) report(new Error(message));
  else dismiss();
  $('login-form').elements.username.focus();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  try {
    const user = await login(form.elements.username.value.trim(), form.elements.password.value);
    form.reset();
    loggedIn(user);
  } catch (err) {
    report(err.status === 401 ? new Error('Wrong username or password.') : err);
  }
});

// Creating an account logs in with it (the server answers 403 when ALLOW_REGISTRATION is off).
$('register-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  try {
    await register(username, password, form.elements.email.value.trim());
    const user = await login(username, password);
    form.reset();
    loggedIn(user);
  } catch (err) {
    report(err);
  }
});

$('logout').addEventListener('click', async () => {
  try {
    await logout();
  } catch (err) {
    if (!(err instanceof APIError && err.status === 401)) report(err);
  }
  loggedOut();
});

for (const b of document.querySelectorAll('#tabs .tab')) {
  b.addEventListener('click', () => openTab(b.dataset.tab));
}
$('notice').addEventListener('click', dismiss);

currentUser().then((user) => (user ? loggedIn(user) : loggedOut()), (err) => {
  loggedOut();
  report(err);
});
