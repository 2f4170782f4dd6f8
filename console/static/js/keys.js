// keys.js: the user's API keys: create one (its secret is shown once), list them, revoke one.

import { request } from './api.js';
import { $, h, clear, when, twoClick } from './dom.js';

// keyStatus is what a key is now: revoked, expired or active.
function keyStatus(k) {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at && new Date(k.expires_at) <= new Date()) return 'expired';
  return 'active';
}

export function createKeys(report) {
  const list = $('keys');
  const form = $('new-key');
  const secret = $('new-key-secret');

  function keyRow(k) {
    const status = keyStatus(k);
    const details = [`…${k.last_four}`, k.scopes.join(', '), `created ${when(k.created_at)}`,
      k.last_used_at ? `last used ${when(k.last_used_at)}` : 'never used',
      k.expires_at ? `expires ${when(k.expires_at)}` : ''].filter(Boolean).join(' · ');
    const li = h('li', { class: 'key', 'data-key': k.id, 'data-status': status },
      h('span', { class: 'name' }, k.name || '(unnamed)'), h('span', { class: 'badge' }, status),
      h('span', { class: 'muted' }, details));
    if (status === 'active') {
      // Two clicks: the first asks, the second revokes (programs using the key stop at once).
      const revoke = h('button', { type: 'button', class: 'small revoke deny' }, 'Revoke');
      twoClick(revoke, 'Revoke now: programs using it stop', async () => {
        try {
          await request('DELETE', `/v1/account/api-keys/${k.id}`);
          await load();
        } catch (err) {
          revoke.disabled = false;
          report(err);
        }
      });
      li.append(revoke);
    }
    return li;
  }

  async function load() {
    const r = await request('GET', '/v1/account/api-keys?limit=100');
    clear(list);
    for (const k of r.items) list.append(keyRow(k));
    if (r.items.length === 0) list.append(h('li', { class: 'muted' }, 'No keys yet.'));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const scopes = [...form.querySelectorAll('input[name=scope]:checked')].map((c) => c.value);
    const body = { name: form.elements.name.value.trim(), scopes };
    if (form.elements.expires.value) body.expires_at = new Date(`${form.elements.expires.value}T23:59:59`).toISOString();
    try {
      const k = await request('POST', '/v1/account/api-keys', body);
      $('new-key-value').textContent = k.key;
      secret.hidden = false;
      form.reset();
      await load();
    } catch (err) {
      report(err);
    }
  });

  // forgetSecret hides a key shown once, so that it does not stay on the screen.
  function forgetSecret() {
    $('new-key-value').textContent = '';
    secret.hidden = true;
  }

  return {
    enter: () => {
      forgetSecret();
      return load();
    },
    reset: () => {
      clear(list);
      forgetSecret();
      form.reset();
    },
  };
}
