// Gld8tr-3dcn web front end: submit a photo, follow the job, look at the scene, download its files.
//
// A plain client of the public HTTP API (docs/SERVICE.md): the API key goes in an Authorization header, never in
// a URL; it is asked for once and kept in localStorage. Progress is polled (GET /scenes/{id}) while a job is
// active. The 3D view is the API's own viewer page (GET /scenes/{id}/view, fetched with the key, shown in an
// iframe via srcdoc: it embeds a short-lived file URL, so the iframe itself needs no key). Downloads are fetched
// with the key and saved from a blob, since a plain link cannot carry the header. URLs are relative to the page,
// so the service also works behind a reverse proxy that mounts it under a path prefix.

const KEY_STORAGE = 'gld8tr.apiKey';
const ACTIVE = new Set(['queued', 'running']);
const POLL_MS = 700;
const LIST_POLL_MS = 3000;
const STAGE_NAMES = { view: 'view', gaussians: 'Gaussian fit, iteration', video: 'video frame',
  saving: 'saving the outputs',
  starting: 'loading the inputs', retrying: 'retrying after a transient error',
  requeued: 'queued again: its worker stopped answering' };

const $ = (id) => document.getElementById(id);
const state = { current: null, viewerFor: null, pollTimer: null, listTimer: null, keyWaiters: [] };

// ------------------------------------------------------------------ API access

class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail || '';
  }
}

function storedKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ''; } catch { return ''; }
}

function authHeaders() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function problemOf(resp) {
  let title = `HTTP ${resp.status}`;
  let detail = resp.statusText || '';
  try {
    const body = await resp.json();
    if (body.title) title = body.title;
    if (body.detail !== undefined) detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(resp.status, title, detail);
}

/** fetch() against the API with the stored key; a problem+json answer becomes an ApiError. */
async function api(path, { method = 'GET', body = null, as = 'json' } = {}) {
  let resp;
  try {
    resp = await fetch(path, { method, body, headers: authHeaders(), cache: 'no-store' });
  } catch (exc) {
    throw new ApiError(0, 'The service cannot be reached', String(exc.message || exc));
  }
  if (!resp.ok) {
    const err = await problemOf(resp);
    if (resp.status === 401) askForKey(storedKey() ? 'The API key was refused. Enter a valid key.'
      : 'This service needs an API key.');
    throw err;
  }
  document.body.dataset.auth = 'ok';
  if (resp.status === 204 || as === 'none') return null;
  if (as === 'text') return resp.text();
  if (as === 'blob') return resp.blob();
  return resp.json();
}

// ------------------------------------------------------------------ API key dialog

function askForKey(reason) {
  document.body.dataset.auth = storedKey() ? 'refused' : 'needed';
  $('key-reason').textContent = reason || '';
  $('key-reason').classList.toggle('error', Boolean(reason));
  $('api-key').value = '';
  const dialog = $('key-dialog');
  if (!dialog.open) dialog.showModal();
  $('api-key').focus();
}

function setupKeyDialog() {
  $('key-button').addEventListener('click', () => askForKey(''));
  $('key-form').addEventListener('submit', () => {
    const key = $('api-key').value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key);
    document.body.dataset.auth = 'unknown';
    refreshList();
    if (state.current) showJob(state.current);
  });
  $('key-forget').addEventListener('click', () => {
    localStorage.removeItem(KEY_STORAGE);
    $('key-reason').textContent = 'The stored key was removed from this browser.';
    $('key-reason').classList.remove('error');
  });
}

// ------------------------------------------------------------------ the form

function humanSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function showFile(kind) {
  const input = $(kind);
  const file = input.files && input.files[0];
  $(`${kind}-name`).textContent = file ? `${file.name} (${humanSize(file.size)})` : '(none)';
  $(`${kind}-name`).classList.toggle('chosen', Boolean(file));
  if (kind === 'depth') $('depth-clear').hidden = !file;
  if (kind === 'image') {
    const img = $('image-preview');
    if (img.src) URL.revokeObjectURL(img.src);
    if (file) {
      img.src = URL.createObjectURL(file);
      img.alt = `preview of ${file.name}`;
      img.hidden = false;
    } else {
      img.removeAttribute('src');
      img.hidden = true;
    }
  }
}

function setupDropZone(zone) {
  const input = $(zone.dataset.for);
  input.addEventListener('change', () => showFile(input.id));
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (ev) => {
      ev.preventDefault();
      ev.dataTransfer.dropEffect = 'copy';
      zone.classList.add('dragover');
    });
  }
  zone.addEventListener('dragleave', () => zone.classList.remove('dragover'));
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('dragover');
    const files = ev.dataTransfer && ev.dataTransfer.files;
    if (!files || !files.length) return;
    const dt = new DataTransfer();
    dt.items.add(files[0]);
    input.files = dt.files;
    showFile(input.id);
  });
}

function formMessage(text, isError = true) {
  $('form-message').textContent = text;
  $('form-message').classList.toggle('error', isError);
}

async function submitScene(ev) {
  ev.preventDefault();
  const form = ev.target;
  const image = $('image').files[0];
  if (!image) {
    formMessage('Choose or drop a photo first.');
    $('image').focus();
    return;
  }
  const data = new FormData();
  data.append('image', image, image.name);
  const depth = $('depth').files[0];
  if (depth) data.append('depth', depth, depth.name);
  data.append('prompt', $('prompt').value);
  data.append('mode', form.elements.mode.value);
  data.append('seed', $('seed').value || '0');
  if ($('fov').value) data.append('fov_deg', $('fov').value);
  const outputs = [...form.querySelectorAll('input[name="outputs"]:checked')].map((el) => el.value);
  if (!outputs.length) {
    formMessage('Pick at least one output.');
    return;
  }
  data.append('outputs', outputs.join(','));
  const button = $('submit');
  button.disabled = true;
  button.textContent = 'Uploading\u2026';
  formMessage('', false);
  try {
    const job = await api('scenes', { method: 'POST', body: data });
    formMessage(`Submitted: job ${job.id.slice(0, 8)}.`, false);
    showJob(job.id, job);
    refreshList();
  } catch (err) {
    formMessage(err.status === 401 ? `Not submitted: ${err.message}` : `Not submitted. ${err.message}`);
  } finally {
    button.disabled = false;
    button.textContent = 'Generate 3D scene';
  }
}

// ------------------------------------------------------------------ the current job

function statusLine(job) {
  const p = job.progress || {};
  const short = job.id.slice(0, 8);
  switch (job.status) {
    case 'queued': return `Job ${short}: queued, waiting for a worker\u2026`;
    case 'running': {
      if (!p.stage) return `Job ${short}: starting\u2026`;
      const what = STAGE_NAMES[p.stage] || p.stage;
      const count = p.total && p.stage !== 'saving' ? ` ${p.done} of ${p.total}` : '';
      return `Job ${short}: running, ${what}${count} (${Math.round(p.percent)}%)`;
    }
    case 'succeeded': {
      const secs = (Date.parse(job.finished_at) - Date.parse(job.created_at)) / 1000;
      return `Job ${short}: done${secs >= 0 ? ` in ${secs < 10 ? secs.toFixed(1) : Math.round(secs)} s` : ''}.`;
    }
    case 'failed': return `Job ${short}: failed.`;
    case 'canceled': return `Job ${short}: canceled.`;
    default: return `Job ${short}: ${job.status}`;
  }
}

function renderJob(job) {
  const result = $('result');
  const seen = result.dataset.seen ? result.dataset.seen.split(',') : [];
  if (seen[seen.length - 1] !== job.status) seen.push(job.status);
  result.dataset.seen = seen.join(',');
  result.dataset.status = job.status;
  result.dataset.job = job.id;
  $('result-empty').hidden = true;
  $('result-body').hidden = false;
  $('job-status').textContent = statusLine(job);
  const prog = $('job-progress');
  prog.value = job.status === 'succeeded' ? 100 : (job.progress ? job.progress.percent : 0);
  prog.hidden = !ACTIVE.has(job.status) && job.status !== 'succeeded';
  $('result-cancel').hidden = !ACTIVE.has(job.status);

  const failed = job.status === 'failed' && job.error;
  $('job-error').hidden = !failed;
  if (failed) {
    $('job-error-title').textContent = `${job.error.title}:`;
    $('job-error-detail').textContent = job.error.detail;
  }
  renderDownloads(job);
  if (job.status === 'succeeded') showViewer(job);
  else hideViewer();
  markCurrentInList();
}

async function showJob(id, known = null) {
  if (state.current !== id) {
    $('result').dataset.seen = '';
    hideViewer();
  }
  state.current = id;
  clearTimeout(state.pollTimer);
  let job = known;
  try {
    if (!job) job = await api(`scenes/${encodeURIComponent(id)}`);
  } catch (err) {
    $('job-status').textContent = `Job ${id.slice(0, 8)}: ${err.message}`;
    // A network blip or a restarting server: keep following the job. A refused key or a gone job: stop.
    if (err.status !== 401 && err.status !== 404 && state.current === id) {
      state.pollTimer = setTimeout(() => showJob(id), 3 * POLL_MS);
    }
    return;
  }
  if (state.current !== id) return;
  renderJob(job);
  if (ACTIVE.has(job.status)) {
    state.pollTimer = setTimeout(() => showJob(id), POLL_MS);
  } else {
    refreshList();
  }
}

function hideViewer() {
  state.viewerFor = null;
  $('viewer-box').hidden = true;
  $('viewer').removeAttribute('srcdoc');
}

async function showViewer(job) {
  const viewable = job.outputs.some((o) => o.name === 'scene.ply' || o.name === 'gaussians.ply');
  if (!viewable || state.viewerFor === job.id) return;
  state.viewerFor = job.id;
  try {
    const page = await api(`scenes/${encodeURIComponent(job.id)}/view`, { as: 'text' });
    if (state.viewerFor !== job.id) return;
    $('viewer-box').hidden = false;
    $('viewer').srcdoc = page;
  } catch (err) {
    state.viewerFor = null;
    $('job-status').textContent += ` The viewer could not be opened: ${err.message}`;
  }
}

function renderDownloads(job) {
  const list = $('download-list');
  list.replaceChildren();
  for (const out of job.outputs || []) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.dataset.name = out.name;
    button.textContent = `Download ${out.name} (${humanSize(out.size)})`;
    button.addEventListener('click', () => download(job.id, out, button));
    li.append(button);
    list.append(li);
  }
  $('downloads').hidden = !(job.outputs && job.outputs.length);
}

async function download(jobId, out, button) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = `Downloading ${out.name}\u2026`;
  try {
    const blob = await api(`scenes/${encodeURIComponent(jobId)}/files/${encodeURIComponent(out.name)}`,
      { as: 'blob' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `${jobId.slice(0, 8)}-${out.name}`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    button.textContent = label;
  } catch (err) {
    button.textContent = `${label}: failed (${err.message})`;
  } finally {
    button.disabled = false;
  }
}

async function cancelOrDelete(job) {
  const active = ACTIVE.has(job.status);
  try {
    await api(`scenes/${encodeURIComponent(job.id)}`, { method: 'DELETE', as: 'none' });
    $('jobs-message').textContent = active ? `Cancel requested for job ${job.id.slice(0, 8)}.`
      : `Deleted job ${job.id.slice(0, 8)}.`;
    if (!active && state.current === job.id) {
      state.current = null;
      clearTimeout(state.pollTimer);
      hideViewer();
      $('result-body').hidden = true;
      $('result-empty').hidden = false;
      $('result').dataset.status = 'none';
    } else if (state.current === job.id) {
      showJob(job.id);
    }
  } catch (err) {
    $('jobs-message').textContent = `Could not ${active ? 'cancel' : 'delete'} job ${job.id.slice(0, 8)}: ${err.message}`;
  }
  refreshList();
}

// ------------------------------------------------------------------ the job list

function jobItem(job) {
  const li = document.createElement('li');
  li.className = 'job';
  li.dataset.id = job.id;
  li.dataset.status = job.status;
  const head = document.createElement('div');
  head.className = 'row';
  const title = document.createElement('strong');
  title.textContent = job.options.prompt ? job.options.prompt.slice(0, 60) : '(no prompt)';
  const badge = document.createElement('span');
  badge.className = `badge ${job.status}`;
  badge.textContent = ACTIVE.has(job.status) && job.progress.percent
    ? `${job.status} ${Math.round(job.progress.percent)}%` : job.status;
  head.append(title, badge);
  const meta = document.createElement('div');
  meta.className = 'meta';
  const when = new Date(job.created_at);
  meta.textContent = `${job.id.slice(0, 8)} \u00b7 ${job.options.mode} \u00b7 ${job.width}\u00d7${job.height}`
    + `${job.has_depth ? ' + depth' : ''} \u00b7 ${when.toLocaleString()}`;
  if (job.status === 'failed' && job.error) meta.textContent += ` \u00b7 ${job.error.title}`;
  const actions = document.createElement('div');
  actions.className = 'actions';
  const open = document.createElement('button');
  open.type = 'button';
  open.textContent = 'Show';
  open.dataset.action = 'show';
  open.setAttribute('aria-label', `Show job ${job.id.slice(0, 8)}`);
  open.addEventListener('click', () => showJob(job.id));
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'danger';
  const active = ACTIVE.has(job.status);
  remove.textContent = active ? 'Cancel' : 'Delete';
  remove.dataset.action = active ? 'cancel' : 'delete';
  remove.setAttribute('aria-label', `${remove.textContent} job ${job.id.slice(0, 8)}`);
  remove.addEventListener('click', () => cancelOrDelete(job));
  actions.append(open, remove);
  li.append(head, meta, actions);
  return li;
}

function markCurrentInList() {
  for (const li of $('job-list').children) li.setAttribute('aria-current', String(li.dataset.id === state.current));
}

async function refreshList() {
  clearTimeout(state.listTimer);
  let page;
  try {
    page = await api('scenes?limit=50');
  } catch (err) {
    $('jobs-message').textContent = err.status === 401 ? 'Enter your API key to see your scenes.'
      : `Could not load your scenes: ${err.message}`;
    return;
  }
  $('job-list').replaceChildren(...page.data.map(jobItem));
  if (!page.data.length) $('jobs-message').textContent = 'No scenes yet.';
  else if (page.count > page.data.length) $('jobs-message').textContent = `Newest ${page.data.length} of ${page.count}.`;
  else if ($('jobs-message').textContent === 'No scenes yet.') $('jobs-message').textContent = '';
  markCurrentInList();
  if (page.data.some((j) => ACTIVE.has(j.status))) state.listTimer = setTimeout(refreshList, LIST_POLL_MS);
}

// ------------------------------------------------------------------ start

function start() {
  setupKeyDialog();
  document.querySelectorAll('.drop').forEach(setupDropZone);
  $('depth-clear').addEventListener('click', () => {
    $('depth').value = '';
    showFile('depth');
  });
  $('scene-form').addEventListener('submit', submitScene);
  $('jobs-refresh').addEventListener('click', refreshList);
  $('result-cancel').addEventListener('click', () => {
    if (state.current) cancelOrDelete({ id: state.current, status: $('result').dataset.status });
  });
  // Dropping a file anywhere else must not navigate away from the page.
  window.addEventListener('dragover', (ev) => ev.preventDefault());
  window.addEventListener('drop', (ev) => ev.preventDefault());
  document.body.dataset.ready = 'true';
  refreshList();
}

start();
