// rq dashboard front end: reads the JSON API every 2 s and redraws the current view. Everything
// that comes from Redis is written with textContent (the el() helper), never parsed as HTML.
'use strict';

const POLL_MS = 2000;
const REGISTRIES = ['queued', 'started', 'scheduled', 'deferred', 'finished', 'failed', 'canceled'];
const PAGE = 20;
let readOnly = true;
let lastJson = '';
let timer = null;

// The token arrives once in the URL fragment (never sent to the server) and lives in this tab only.
if (location.hash.startsWith('#token=')) {
  sessionStorage.setItem('rq-token', decodeURIComponent(location.hash.slice('#token='.length)));
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
}
const token = () => sessionStorage.getItem('rq-token') || '';

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'onclick') node.addEventListener('click', v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const link = (href, text) => el('a', { href }, text);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
const pretty = (value) => JSON.stringify(value, null, 2);

function say(text, isError) {
  const m = document.getElementById('message');
  m.textContent = text;
  m.className = isError ? 'error' : '';
}

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

async function act(path, confirmText) {
  if (confirmText && !confirm(confirmText)) return;
  const res = await fetch(path, { method: 'POST', headers: { 'x-rq-token': token() } });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  say(res.ok ? body.message : `Refused: ${body.error}`, !res.ok);
  lastJson = '';
  await refresh();
}

const actionButton = (label, path, confirmText) =>
  readOnly ? null : el('button', { class: 'action', 'data-action': label, onclick: () => act(path, confirmText) }, label);

/** The current route from the fragment: #/, #/queues/<q>/<registry>?offset=N, #/jobs/<id>. */
function route() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const parts = (path || '/').split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || '');
  if (parts[0] === 'queues' && parts[1]) return { view: 'queue', queue: parts[1], registry: parts[2] || 'queued', offset: Number(params.get('offset')) || 0 };
  if (parts[0] === 'jobs' && parts[1]) return { view: 'job', id: parts[1] };
  return { view: 'overview' };
}

const enc = encodeURIComponent;

function overview(data) {
  const queues = el(
    'table',
    { id: 'queues' },
    el('tr', {}, el('th', {}, 'queue'), REGISTRIES.map((r) => el('th', {}, r)), readOnly ? null : el('th', {}, 'actions')),
    data.queues.map((q) =>
      el(
        'tr',
        { 'data-queue': q.name },
        el('td', {}, link(`#/queues/${enc(q.name)}/queued`, q.name)),
        REGISTRIES.map((r) => el('td', { class: `num count-${r}` }, link(`#/queues/${enc(q.name)}/${r}`, q.counts[r]))),
        readOnly
          ? null
          : el(
              'td',
              {},
              actionButton('empty', `api/queues/${enc(q.name)}/empty`, `Remove the ${q.counts.queued} waiting jobs of ${q.name}?`),
              actionButton('requeue failed', `api/queues/${enc(q.name)}/requeue-failed`),
            ),
      ),
    ),
  );
  const workers = el(
    'table',
    { id: 'workers' },
    el('tr', {}, ['name', 'runtime', 'host', 'pid', 'state', 'current job', 'queues', 'ok', 'failed', 'working time', 'last heartbeat'].map((h) => el('th', {}, h))),
    data.workers.map((w) =>
      el(
        'tr',
        { 'data-worker': w.name },
        el('td', {}, w.name),
        el('td', { class: 'runtime' }, w.runtime === 'node' ? 'Node' : 'Python'),
        el('td', {}, w.hostname),
        el('td', { class: 'num' }, w.pid),
        el('td', { class: 'state' }, w.state || '?'),
        el('td', {}, w.currentJobId ? link(`#/jobs/${enc(w.currentJobId)}`, w.currentJobId) : '–'),
        el('td', {}, w.queues.join(', ')),
        el('td', { class: 'num' }, w.successfulJobCount),
        el('td', { class: 'num' }, w.failedJobCount),
        el('td', { class: 'num' }, `${w.totalWorkingTime.toFixed(1)} s`),
        el('td', {}, when(w.lastHeartbeat)),
      ),
    ),
  );
  return [
    el('h2', {}, `Queues (${data.queues.length})`),
    data.queues.length ? queues : el('p', {}, 'No queues in this Redis yet.'),
    el('h2', {}, `Workers (${data.workers.length})`),
    data.workers.length ? workers : el('p', {}, 'No workers running.'),
  ];
}

function queuePage(r, data) {
  const tabs = el('p', { class: 'tabs' }, REGISTRIES.map((name) => el('a', { href: `#/queues/${enc(r.queue)}/${name}`, class: name === r.registry ? 'current' : null }, name)));
  const rows = data.jobs.map((j) =>
    el(
      'tr',
      { 'data-job': j.id },
      el('td', {}, link(`#/jobs/${enc(j.id)}`, j.id)),
      el('td', { class: 'call' }, j.callString ?? el('span', { class: 'error' }, j.error || '?')),
      el('td', {}, j.status || '?'),
      el('td', {}, when(j.createdAt)),
      el('td', {}, when(j.endedAt)),
    ),
  );
  const last = Math.min(r.offset + data.jobs.length, data.total);
  const pager = el(
    'div',
    { class: 'pager' },
    r.offset > 0 ? link(`#/queues/${enc(r.queue)}/${r.registry}?offset=${Math.max(0, r.offset - PAGE)}`, '← newer') : null,
    el('span', { id: 'range' }, data.total ? `${r.offset + 1}–${last} of ${data.total}` : 'no jobs'),
    last < data.total ? link(`#/queues/${enc(r.queue)}/${r.registry}?offset=${r.offset + PAGE}`, 'more →') : null,
  );
  return [
    el('h2', {}, `${r.queue}: ${r.registry} jobs`),
    tabs,
    pager,
    el('table', { id: 'jobs' }, el('tr', {}, ['id', 'call', 'status', 'created', 'ended'].map((h) => el('th', {}, h))), rows),
  ];
}

function jobPage(j) {
  const field = (name, value) => [el('dt', {}, name), el('dd', { 'data-field': name }, value ?? '–')];
  const block = (name, text) => (text === null || text === undefined ? null : [el('h2', {}, name), el('pre', { 'data-field': name }, text)]);
  const deps = (ids) => (ids.length ? ids.map((id, i) => [i ? ', ' : '', link(`#/jobs/${enc(id)}`, id)]) : '–');
  const actions = readOnly
    ? null
    : el(
        'p',
        {},
        j.status === 'failed' ? actionButton('requeue', `api/jobs/${enc(j.id)}/requeue`) : null,
        j.status === 'started' ? actionButton('stop', `api/jobs/${enc(j.id)}/stop`) : null,
        j.status !== 'canceled' ? actionButton('cancel', `api/jobs/${enc(j.id)}/cancel`) : null,
        actionButton('delete', `api/jobs/${enc(j.id)}/delete`, `Delete job ${j.id}?`),
      );
  const results = j.results.length
    ? el(
        'table',
        { id: 'results' },
        el('tr', {}, ['when', 'outcome', 'value or traceback'].map((h) => el('th', {}, h))),
        j.results.map((r) => el('tr', {}, el('td', {}, when(r.createdAt)), el('td', {}, r.type), el('td', {}, el('pre', {}, r.returnValue ?? r.excInfo ?? '')))),
      )
    : el('p', {}, 'No results recorded.');
  return [
    el('h2', {}, `Job ${j.id}`),
    j.error ? el('p', { class: 'error', id: 'job-error' }, j.error) : null,
    actions,
    el(
      'dl',
      {},
      field('call', j.callString),
      field('status', j.status),
      field('queue', j.origin ? link(`#/queues/${enc(j.origin)}/queued`, j.origin) : null),
      field('description', j.description),
      field('worker', j.workerName),
      field('created', when(j.createdAt)),
      field('enqueued', when(j.enqueuedAt)),
      field('scheduled for', j.scheduledFor ? when(j.scheduledFor) : null),
      field('started', when(j.startedAt)),
      field('ended', when(j.endedAt)),
      field('last heartbeat', when(j.lastHeartbeat)),
      field('timeout', j.timeout),
      field('result ttl', j.resultTtl),
      field('retries left', j.retriesLeft),
      field('depends on', deps(j.dependencyIds)),
      field('dependents', deps(j.dependentIds)),
    ),
    block('args', j.args ? pretty(j.args) : null),
    block('kwargs', j.kwargs && Object.keys(j.kwargs).length ? pretty(j.kwargs) : null),
    block('meta', Object.keys(j.meta).length ? pretty(j.meta) : null),
    block('result', j.result),
    block('exc_info', j.excInfo),
    el('h2', {}, 'Results history'),
    results,
  ];
}

function setHeader(overviewData) {
  readOnly = overviewData.readOnly;
  document.getElementById('suspended').hidden = !overviewData.suspended;
  document.getElementById('actions-off').hidden = !readOnly;
  document.getElementById('token-form').hidden = readOnly || Boolean(token());
  document.getElementById('suspend').hidden = readOnly || overviewData.suspended;
  document.getElementById('resume').hidden = readOnly || !overviewData.suspended;
}

async function refresh() {
  const r = route();
  const live = document.getElementById('live');
  const view = document.getElementById('view');
  let head;
  try {
    head = await getJson('api/overview');
  } catch (err) {
    live.className = 'stale';
    live.textContent = `not updating: ${err.message}`;
    return;
  }
  setHeader(head);
  live.className = '';
  live.textContent = `live · ${new Date().toLocaleTimeString()}`;
  let data;
  try {
    data = r.view === 'overview' ? head : r.view === 'queue' ? await getJson(`api/queues/${enc(r.queue)}/jobs?registry=${enc(r.registry)}&offset=${r.offset}&limit=${PAGE}`) : await getJson(`api/jobs/${enc(r.id)}`);
  } catch (err) {
    lastJson = '';
    view.replaceChildren(el('p', { class: 'error', id: 'view-error' }, err.message), el('p', {}, link('#/', 'back to the overview')));
    return;
  }
  // Redraw only when something changed, so a selection or a scrolled traceback survives the poll.
  const json = JSON.stringify([location.hash, readOnly, data]);
  if (json === lastJson) return;
  lastJson = json;
  view.replaceChildren(...[r.view === 'overview' ? overview(data) : r.view === 'queue' ? queuePage(r, data) : jobPage(data)].flat(Infinity).filter(Boolean));
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    await refresh();
    schedule();
  }, POLL_MS);
}

document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem('rq-token', document.getElementById('token').value);
  lastJson = '';
  refresh();
});
document.getElementById('suspend').addEventListener('click', () => act('api/suspend'));
document.getElementById('resume').addEventListener('click', () => act('api/resume'));
window.addEventListener('hashchange', () => {
  say('');
  // Nothing of the last view may stay clickable while the next one loads.
  lastJson = '';
  document.getElementById('view').replaceChildren(el('p', {}, 'Loading…'));
  refresh();
});
refresh().then(schedule);
