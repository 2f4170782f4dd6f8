// documents.js: uploads and their ingestion runs. Each unfinished run is followed on its event
// stream: the stage it is in and a progress bar of the chunks embedded, until it is done.

import { request, follow } from './api.js';
import { $, h, clear, when } from './dom.js';

const RUN_EVENTS = ['run.started', 'stage', 'progress', 'run.completed', 'run.failed', 'run.cancelled'];
const RUN_END = ['run.completed', 'run.failed', 'run.cancelled'];
const RUN_UNFINISHED = new Set(['queued', 'running']);

export function createDocuments(report) {
  const runsList = $('runs');
  const followed = new Map(); // run id → stop function of its stream

  // runRow draws one run; update(name, data) moves it on with each event.
  function runRow(run, label) {
    const stage = h('span', { class: 'stage' }, run.stage || run.status);
    const bar = h('progress', { max: Math.max(run.chunks_total, 1), value: run.chunks_done, 'aria-label': 'Chunks embedded' });
    const counts = h('span', { class: 'counts muted' }, '');
    const cancel = h('button', { type: 'button', class: 'small cancel-run' }, 'Cancel');
    const li = h('li', { class: 'run', 'data-run': run.id, 'data-status': run.status },
      h('span', { class: 'name' }, label), stage, bar, counts, cancel);
    if (run.chunks_total === 0 && RUN_UNFINISHED.has(run.status)) bar.removeAttribute('value'); // indeterminate

    const setProgress = (done, total) => {
      if (total > 0) {
        bar.max = total;
        bar.value = done;
        counts.textContent = `${done}/${total} chunks`;
      }
    };
    const finish = (status, text) => {
      li.dataset.status = status;
      stage.textContent = text;
      cancel.remove();
      if (status === 'completed') bar.value = bar.max; // all done, whatever the last count said
    };
    cancel.addEventListener('click', async () => {
      cancel.disabled = true;
      try {
        await request('POST', `/v1/ingestion-runs/${run.id}/cancel`);
        stage.textContent = 'cancelling…';
      } catch (err) {
        cancel.disabled = false;
        report(err);
      }
    });
    if (run.status === 'completed') finish('completed', 'done');
    else if (!RUN_UNFINISHED.has(run.status)) finish(run.status, run.status);
    setProgress(run.chunks_done, run.chunks_total);

    const update = (name, data) => {
      switch (name) {
        case 'run.started':
          li.dataset.status = 'running';
          stage.textContent = 'started';
          break;
        case 'stage':
        case 'progress':
          li.dataset.status = 'running';
          stage.textContent = data.stage;
          setProgress(data.chunks_done, data.chunks_total);
          break;
        case 'run.completed':
          if (data.chunks > 0) setProgress(data.chunks, data.chunks);
          finish('completed', data.duplicate_of ? 'done (a duplicate of a ready document)' : 'done');
          break;
        case 'run.failed':
          finish('failed', `failed: ${(data.error && data.error.message) || 'unknown error'}`);
          break;
        case 'run.cancelled':
          finish('cancelled', 'cancelled');
          break;
        default:
      }
    };
    return { li, update };
  }

  function followRun(run, row, eventsURL) {
    if (followed.has(run.id) || !RUN_UNFINISHED.has(run.status)) return;
    const stop = follow(eventsURL, RUN_EVENTS, RUN_END, (name, data) => {
      row.update(name, data);
      if (RUN_END.includes(name)) {
        followed.delete(run.id);
        loadDocuments().catch(report);
      }
    }, (err) => {
      followed.delete(run.id);
      report(err);
    });
    followed.set(run.id, stop);
  }

  async function loadRuns(titles) {
    const list = await request('GET', '/v1/ingestion-runs?limit=20');
    stopAll();
    clear(runsList);
    for (const run of list.items) {
      const row = runRow(run, titles.get(run.document_id) || `run of ${when(run.created_at)}`);
      row.li.dataset.document = run.document_id;
      runsList.append(row.li);
      followRun(run, row, run.events_url);
    }
  }

  // loadDocuments lists the documents and returns their titles by id.
  async function loadDocuments() {
    const list = await request('GET', '/v1/documents?limit=100');
    const ul = $('documents');
    const titles = new Map();
    clear(ul);
    for (const d of list.items) {
      titles.set(d.id, d.title || d.original_filename || d.id);
      ul.append(h('li', { 'data-document': d.id, 'data-status': d.status },
        h('span', { class: 'name' }, titles.get(d.id)),
        h('span', { class: 'badge' }, d.status),
        h('span', { class: 'muted' }, `${d.chunk_count} chunks · ${when(d.created_at)}`)));
    }
    if (list.items.length === 0) ul.append(h('li', { class: 'muted' }, 'No documents yet.'));
    return titles;
  }

  function stopAll() {
    for (const stop of followed.values()) stop();
    followed.clear();
  }

  $('upload').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const file = form.elements.file.files[0];
    if (!file) return;
    const body = new FormData();
    body.append('file', file, file.name);
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const r = await request('POST', '/v1/documents', body);
      const run = { id: r.ingestion_run_id, status: r.status, stage: 'queued', chunks_done: 0, chunks_total: 0 };
      const row = runRow(run, file.name);
      row.li.dataset.document = r.document_id;
      runsList.prepend(row.li);
      followRun(run, row, r.events_url);
      form.reset();
    } catch (err) {
      report(err);
    } finally {
      button.disabled = false;
    }
  });

  $('reload-documents').addEventListener('click', () => loadDocuments().catch(report));

  return {
    enter: async () => loadRuns(await loadDocuments()),
    reset() {
      stopAll();
      clear(runsList);
      clear($('documents'));
    },
  };
}
