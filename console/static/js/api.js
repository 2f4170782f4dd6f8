// api.js: the one way the console talks to the API. Requests go to the page's own origin with the
// login's HttpOnly cookies; unsafe ones carry the X-CSRF-Token header (the double-submit token the
// login returned, kept in memory only). An expired access token is refreshed once and the request
// repeated. Event streams (SSE) are followed with EventSource.

let csrf = '';

// APIError is an answer outside 2xx, with the error envelope's code and message.
export class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `the API answered ${status}`);
    this.status = status;
    this.code = e.code || '';
    this.requestID = e.request_id || '';
  }
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);
// Auth routes whose 401 means what it says (a refresh would not help).
const noRefresh = new Set(['/v1/auth/login', '/v1/auth/refresh', '/v1/auth/logout']);

function send(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, credentials: 'same-origin' };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  if (!safeMethods.has(method) && csrf) init.headers['X-CSRF-Token'] = csrf;
  return fetch(path, init);
}

// request sends one API request and returns its JSON answer (null for 204); it throws APIError.
export async function request(method, path, body, headers) {
  let resp = await send(method, path, body, headers);
  if (resp.status === 401 && !noRefresh.has(path) && (await refresh())) {
    resp = await send(method, path, body, headers);
  }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

let refreshing = null;

// refresh rotates the refresh cookie for a new access token; true when the login is still alive.
// After a reload the CSRF token is not in memory yet: the CSRF cookie holds it (it is readable by
// the page for exactly this purpose).
export function refresh() {
  refreshing ??= (async () => {
    if (!csrf) csrf = csrfCookie();
    if (!csrf) return false;
    const resp = await send('POST', '/v1/auth/refresh');
    if (!resp.ok) return false;
    csrf = (await resp.json()).csrf_token || '';
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function csrfCookie() {
  for (const part of document.cookie.split(';')) {
    const at = part.indexOf('=');
    const name = part.slice(0, at).trim();
    if (at > 0 && (name === 'csrf_token' || name === '__Host-csrf_token')) {
      return decodeURIComponent(part.slice(at + 1));
    }
  }
  return '';
}

// login logs in with a password; the cookies are set by the answer.
export async function login(username, password) {
  const r = await request('POST', '/v1/auth/login', { username, password });
  csrf = r.csrf_token;
  return r.user;
}

// register creates an account (email may be empty); log in with it afterwards.
export async function register(username, password, email) {
  const body = { username, password };
  if (email) body.email = email;
  return request('POST', '/v1/auth/register', body);
}

// logout ends the login on the server (it revokes the refresh tokens and clears the cookies).
export async function logout() {
  try {
    await request('POST', '/v1/auth/logout');
  } finally {
    csrf = '';
  }
}

// currentUser is the logged-in user, or null; it also fetches the CSRF token of the login.
export async function currentUser() {
  try {
    const me = await request('GET', '/v1/auth/me');
    csrf = (await request('GET', '/v1/auth/csrf-token')).csrf_token;
    return me;
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

// follow reads the event stream at url, calling onEvent(name, data, id) for each event of the
// given names, until an event named in terminal (then the stream is closed) or stop() is called.
// The browser reconnects a dropped stream by itself, sending Last-Event-ID; a stream the API
// refuses (an expired access token) is reopened once after a refresh, after the last event seen.
// onFail runs when the stream cannot be had.
export function follow(url, names, terminal, onEvent, onFail) {
  let last = 0;
  let es = null;
  let stopped = false;
  let retried = false;
  const stop = () => {
    stopped = true;
    if (es) es.close();
  };
  const open = () => {
    es = new EventSource(last ? `${url}?last_event_id=${last}` : url);
    for (const name of names) {
      es.addEventListener(name, (ev) => {
        if (stopped) return;
        retried = false;
        last = Number(ev.lastEventId) || last;
        let data = {};
        try {
          data = JSON.parse(ev.data);
        } catch {
          // an event without a JSON body: its name is all there is
        }
        onEvent(name, data, last);
        if (terminal.includes(name)) stop();
      });
    }
    es.addEventListener('error', async () => {
      if (stopped || es.readyState !== EventSource.CLOSED) return; // reconnecting by itself
      if (!retried && (await refresh())) {
        retried = true;
        open();
        return;
      }
      stopped = true;
      onFail(new Error('the event stream was refused; reload the page or log in again'));
    });
  };
  open();
  return stop;
}
