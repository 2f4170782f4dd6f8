// search.js: semantic search over the documents the user may read.

import { request } from './api.js';
import { $, h, clear, brief } from './dom.js';

export function createSearch(report) {
  const results = $('results');

  $('search-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const query = ev.currentTarget.elements.query.value.trim();
    if (!query) return;
    try {
      const r = await request('POST', '/v1/search', { query, top_k: 10 });
      clear(results);
      for (const hit of r.items) {
        const where = [hit.heading_path && hit.heading_path.length ? hit.heading_path.join(' › ') : '',
          hit.page ? `page ${hit.page}` : ''].filter(Boolean).join(' · ');
        results.append(h('li', { class: 'hit', 'data-document': hit.document_id },
          h('p', {}, h('strong', {}, hit.document_title || hit.document_id), ' ',
            h('span', { class: 'muted' }, `score ${hit.score.toFixed(3)}${where ? ` · ${where}` : ''}`)),
          h('p', { class: 'text' }, brief(hit.text, 800))));
      }
      if (r.items.length === 0) results.append(h('li', { class: 'muted' }, 'Nothing found.'));
    } catch (err) {
      report(err);
    }
  });

  return {
    enter: () => $('search-form').elements.query.focus(),
    reset: () => clear(results),
  };
}
