// The operator console: vCenters, their providers live, a provider's
// details, and the actions with their tasks' progress. Everything it shows
// comes from the REST API, called with the caller's own credentials.

import {ApiError, call, errorInfo, hasToken, newRequestId, resourcePath, setToken, statusFromBody, watch} from './api.js';
import {StreamRefused} from './sse.js';
import {codeName, el, faultMessage, renderFault} from './fault.js';

// pollInterval is how often the provider list is read while the watch is
// not available. The watch is tried again after watchRetryFirst, then
// after twice as long each time it is still refused, up to watchRetryMax.
const pollInterval = 3000;
const watchRetryFirst = 3000;
const watchRetryMax = 30000;
const taskPollInterval = 1000;

// invalidArgument is google.rpc.Code INVALID_ARGUMENT: of the answers with
// HTTP 400, the one that refuses the filter (FAILED_PRECONDITION, say a
// gateway with its provider watch turned off, is not the filter's fault).
const invalidArgument = 3;

const $ = (id) => document.getElementById(id);

const state = {
  vcenter: 'vcenters/default',
  filter: '',
  role: '', // 'operator' | 'viewer'
  providers: new Map(), // name -> {provider, recoveryNeeded, autoReconnectError}
  selected: '',
  live: null, // AbortController of the provider feed
  tasks: new Set(), // AbortControllers of task watches
};

// ---------------------------------------------------------------- sign-in

function showSignIn(reason) {
  stopAll();
  $('console').hidden = true;
  $('sign-in').hidden = false;
  $('sign-out').hidden = !hasToken();
  $('identity-text').textContent = 'Not signed in';
  $('sign-in-error').textContent = reason || '';
  $('token').focus();
}

function isUnauthenticated(err) {
  return err instanceof ApiError && err.httpStatus === 401;
}

function refusal(err) {
  if (err instanceof ApiError) return `${faultMessage(err.status)} (${err.reason || codeName(err.status.code)})`;
  return String(err.message || err);
}

$('sign-in-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = $('token').value;
  $('token').value = ''; // the token lives in memory, not in the page
  if (!t.trim()) {
    $('sign-in-error').textContent = 'Paste a token first.';
    return;
  }
  setToken(t);
  start();
});

$('sign-out').addEventListener('click', () => {
  setToken('');
  state.role = '';
  showSignIn('');
});

// ------------------------------------------------------------------ start

async function start() {
  $('identity-text').textContent = 'Connecting…';
  let vcenters;
  try {
    vcenters = await loadVCenters();
    await probeRole();
  } catch (err) {
    if (isUnauthenticated(err)) {
      showSignIn(hasToken() ? `The gateway refused the token: ${refusal(err)}` : '');
      return;
    }
    $('sign-in').hidden = true;
    $('console').hidden = false;
    $('providers-error').replaceChildren(renderFault(err.status || {message: String(err)}, {title: 'The gateway cannot be read'}));
    return;
  }
  $('sign-in').hidden = true;
  $('console').hidden = false;
  $('sign-out').hidden = !hasToken();
  const how = hasToken() ? 'Signed in with a bearer token' : 'Signed in by this browser (client certificate, or a gateway that does not authenticate callers)';
  $('identity-text').textContent = `${how}; role: ${state.role}`;
  renderVCenters(vcenters);
  startProviders();
}

// loadVCenters lists the gateway's vCenters. A gateway without the
// VCenterService (or a caller not allowed it) still serves `default`: the
// page shows that one and says why it lists no other. A refused sign-in
// throws.
async function loadVCenters() {
  try {
    const out = [];
    let pageToken = '';
    do {
      const q = new URLSearchParams({pageSize: '100'});
      if (pageToken) q.set('pageToken', pageToken);
      const r = await call('GET', `/v1/vcenters?${q}`);
      out.push(...(r.vcenters || []));
      pageToken = r.nextPageToken || '';
    } while (pageToken);
    $('vcenters-note').textContent = '';
    if (out.length) return out;
  } catch (err) {
    if (isUnauthenticated(err)) throw err;
    $('vcenters-note').textContent = `The vCenter list is not available (${refusal(err)}); showing the default vCenter.`;
  }
  // Reading the default vCenter's providers checks the credentials.
  await call('GET', `/v1/vcenters/default/vasaProviders?pageSize=1`);
  return [{name: 'vcenters/default'}];
}

// probeRole finds out whether the caller may run actions: a SyncProvider
// of a name no provider can have (the service refuses it as
// INVALID_ARGUMENT before it calls vCenter) passes the same role check as
// every action. PERMISSION_DENIED MISSING_ROLE means a viewer.
async function probeRole() {
  try {
    await call('POST', `/v1/${state.vcenter}/vasaProviders/console~role-probe:sync`, {});
    state.role = 'operator';
  } catch (err) {
    if (isUnauthenticated(err)) throw err;
    state.role = err instanceof ApiError && err.httpStatus === 403 && err.reason === 'MISSING_ROLE' ? 'viewer' : 'operator';
  }
}

function stopAll() {
  state.live?.abort();
  state.live = null;
  for (const c of state.tasks) c.abort();
  state.tasks.clear();
}

// --------------------------------------------------------------- vCenters

const vcenterStates = {
  STATE_READY: ['Ready', 'ok'],
  STATE_CONNECTING: ['Connecting', 'warn'],
  STATE_UNREACHABLE: ['Unreachable', 'bad'],
  STATE_AUTH_FAILED: ['Login refused', 'bad'],
  STATE_CERTIFICATE_UNTRUSTED: ['Certificate not trusted', 'bad'],
};

function renderVCenters(vcenters) {
  if (!vcenters.some((v) => v.name === state.vcenter)) state.vcenter = vcenters[0].name;
  const list = $('vcenters');
  list.replaceChildren();
  for (const v of vcenters) {
    const id = v.name.split('/')[1];
    const [label, tone] = vcenterStates[v.state] || ['State not reported', 'neutral'];
    const current = v.name === state.vcenter;
    const button = el('button', {type: 'button', class: 'vcenter-pick', 'aria-pressed': current ? 'true' : 'false', 'data-vcenter': v.name}, id);
    button.addEventListener('click', () => {
      state.vcenter = v.name;
      state.selected = '';
      renderVCenters(vcenters);
      startProviders();
    });
    const item = el('li', {class: 'vcenter'}, button,
      el('span', {class: `badge ${tone}`, text: label}),
      v.url ? el('span', {class: 'muted', text: v.url}) : null,
      v.smsVersion ? el('span', {class: 'muted', text: `SMS ${v.smsVersion}`}) : null);
    if (v.lastError) item.append(renderFault(v.lastError));
    list.append(item);
  }
  $('providers-vcenter').textContent = state.vcenter.split('/')[1];
}

// -------------------------------------------------------------- providers

$('filter-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.filter = $('filter').value.trim();
  startProviders();
});

$('filter-clear').addEventListener('click', () => {
  $('filter').value = '';
  state.filter = '';
  startProviders();
});

function setLive(mode, text) {
  const p = $('live');
  p.dataset.mode = mode;
  p.textContent = text;
}

// startProviders follows the current vCenter's providers: over the
// WatchVasaProviders event stream when the gateway serves it, else by
// reading the list every pollInterval and trying the watch again every
// watchRetry. The page says which.
function startProviders() {
  state.live?.abort();
  const ctl = new AbortController();
  state.live = ctl;
  state.providers = new Map();
  $('filter-error').replaceChildren();
  $('providers-error').replaceChildren();
  renderProviders();
  follow(ctl.signal);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, {once: true});
  });
}

// pollNow cuts the wait for the next read of the list short: a task that
// ended has changed a provider. (Over the watch the change arrives by
// itself.)
let wakePoll = null;

function pollNow() {
  wakePoll?.();
}

function pollPause(ms, signal) {
  return new Promise((resolve) => {
    wakePoll = resolve;
    sleep(ms, signal).then(resolve);
  }).finally(() => {
    wakePoll = null;
  });
}

async function follow(signal) {
  const q = state.filter ? `?${new URLSearchParams({filter: state.filter})}` : '';
  let wait = watchRetryFirst;
  while (!signal.aborted) {
    const opened = {value: false};
    const why = await watchProviders(q, signal, opened);
    if (signal.aborted || why === 'stop') return;
    if (opened.value) wait = watchRetryFirst; // it worked: a break, not a refusal
    // Poll until the watch is worth another try.
    const until = Date.now() + wait;
    wait = Math.min(wait * 2, watchRetryMax);
    while (!signal.aborted && Date.now() < until) {
      setLive('polling', `Polling the provider list every ${pollInterval / 1000} s: ${why}`);
      const ok = await pollProviders(signal);
      if (!ok) return;
      await pollPause(pollInterval, signal);
    }
  }
}

// watchProviders runs the watch until it ends; it returns why it ended,
// for the page to say, or 'stop' when polling would not help either.
async function watchProviders(q, signal, opened) {
  let snapshot = new Map();
  let synced = false;
  try {
    await watch(`/v1/${state.vcenter}/vasaProviders:watch${q}`, {
      signal,
      onOpen: () => {
        opened.value = true;
        setLive('sse', 'Live: following the gateway\u2019s provider watch (Server-Sent Events).');
      },
      onEvent: (ev) => {
        if (ev.type === 'error') throw new ApiError(0, statusFromBody(0, ev.data));
        if (ev.type !== 'provider') return;
        const pe = JSON.parse(ev.data);
        const target = synced ? state.providers : snapshot;
        switch (pe.type) {
          case 'TYPE_UPSERTED':
            target.set(pe.vasaProvider.name, {provider: pe.vasaProvider, recoveryNeeded: !!pe.recoveryNeeded, autoReconnectError: pe.autoReconnectError});
            break;
          case 'TYPE_DELETED':
            target.delete(pe.vasaProvider?.name);
            break;
          case 'TYPE_SNAPSHOT_COMPLETE':
            state.providers = snapshot;
            synced = true;
            snapshot = new Map();
            break;
          default:
            return;
        }
        if (synced) renderProviders();
      },
    });
    return 'the provider watch ended; it is tried again shortly.';
  } catch (err) {
    if (signal.aborted) return 'stop';
    if (err instanceof StreamRefused) {
      const st = statusFromBody(err.status, err.body);
      if (err.status === 401) {
        showSignIn(`The gateway asks for credentials again: ${faultMessage(st)}`);
        return 'stop';
      }
      if (err.status === 400 && st.code === invalidArgument) {
        $('filter-error').replaceChildren(renderFault(st, {title: 'The filter was refused'}));
        setLive('error', 'Not following: the filter was refused.');
        return 'stop';
      }
      return `the provider watch is not available (HTTP ${err.status} ${codeName(st.code)}: ${faultMessage(st)}).`;
    }
    if (err instanceof ApiError) return `the provider watch failed (${faultMessage(err.status)}).`;
    return `the provider watch was interrupted (${err.message || err}).`;
  }
}

// pollProviders reads every page of the list once; false stops following.
async function pollProviders(signal) {
  try {
    const next = new Map();
    let pageToken = '';
    do {
      const q = new URLSearchParams({pageSize: '1000'});
      if (state.filter) q.set('filter', state.filter);
      if (pageToken) q.set('pageToken', pageToken);
      const r = await call('GET', `/v1/${state.vcenter}/vasaProviders?${q}`);
      for (const p of r.vasaProviders || []) next.set(p.name, {provider: p, recoveryNeeded: false});
      pageToken = r.nextPageToken || '';
    } while (pageToken);
    if (signal.aborted) return false;
    state.providers = next;
    $('providers-error').replaceChildren();
    renderProviders();
    return true;
  } catch (err) {
    if (signal.aborted) return false;
    if (isUnauthenticated(err)) {
      showSignIn(`The gateway asks for credentials again: ${refusal(err)}`);
      return false;
    }
    if (err instanceof ApiError && err.httpStatus === 400 && err.status.code === invalidArgument) {
      $('filter-error').replaceChildren(renderFault(err.status, {title: 'The filter was refused'}));
      setLive('error', 'Not following: the filter was refused.');
      return false;
    }
    $('providers-error').replaceChildren(renderFault(err.status || {message: String(err)}, {title: 'The provider list could not be read'}));
    return true;
  }
}

const providerStatuses = {
  STATUS_ONLINE: ['Online', 'ok'],
  STATUS_CONNECTED: ['Connected', 'ok'],
  STATUS_OFFLINE: ['Offline', 'bad'],
  STATUS_SYNC_ERROR: ['Sync error', 'warn'],
  STATUS_UNKNOWN: ['Unknown', 'neutral'],
  STATUS_DISCONNECTED: ['Disconnected', 'bad'],
};

const certificateStatuses = {
  CERTIFICATE_STATUS_VALID: ['Valid', 'ok'],
  CERTIFICATE_STATUS_EXPIRY_SOFT_LIMIT_REACHED: ['Expires soon', 'warn'],
  CERTIFICATE_STATUS_EXPIRY_HARD_LIMIT_REACHED: ['About to expire', 'bad'],
  CERTIFICATE_STATUS_EXPIRED: ['Expired', 'bad'],
  CERTIFICATE_STATUS_INVALID: ['Invalid', 'bad'],
};

function badge(table, value) {
  const [label, tone] = table[value] || ['Not reported', 'neutral'];
  return el('span', {class: `badge ${tone}`, 'data-value': value || ''}, label);
}

// daysLeft is whole days until t (negative once past).
function daysLeft(t) {
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) return null;
  return Math.floor((ms - Date.now()) / 86400000);
}

function expiryText(t) {
  const d = daysLeft(t);
  if (d === null) return '—';
  if (d < 0) return `expired ${-d} day${d === -1 ? '' : 's'} ago`;
  return `${d} day${d === 1 ? '' : 's'}`;
}

function shortName(name) {
  return name.slice(name.lastIndexOf('/') + 1);
}

let drawn = '';

function renderProviders() {
  const rows = $('provider-rows');
  // A read that changed nothing leaves the rows (and a screen reader's
  // place in them) alone.
  const key = JSON.stringify([state.selected, state.role, [...state.providers.values()]]);
  if (key === drawn && rows.rows.length === state.providers.size) return;
  drawn = key;
  // A refresh replaces the rows: keep the keyboard focus where it was.
  const focused = rows.contains(document.activeElement) ? document.activeElement.closest('tr')?.dataset.name : '';
  const entries = [...state.providers.values()].sort((a, b) => a.provider.name.localeCompare(b.provider.name));
  rows.replaceChildren(...entries.map(({provider: p, recoveryNeeded}) => {
    const id = shortName(p.name);
    const open = el('button', {type: 'button', class: 'link', 'aria-label': `Details of ${p.displayName || id}`, 'aria-pressed': p.name === state.selected ? 'true' : 'false'}, 'Details');
    open.addEventListener('click', () => select(p.name, true));
    return el('tr', {'data-name': p.name, 'data-status': p.status || '', class: p.name === state.selected ? 'selected' : ''},
      el('th', {scope: 'row'}, el('span', {class: 'provider-name', text: p.displayName || id}), ' ', el('span', {class: 'muted', text: id})),
      el('td', {}, badge(providerStatuses, p.status), recoveryNeeded ? el('span', {class: 'badge bad', text: 'Needs recovery'}) : null),
      el('td', {}, badge(certificateStatuses, p.certificateStatus)),
      el('td', {'data-days': daysLeft(p.certificateExpireTime) ?? ''}, expiryText(p.certificateExpireTime)),
      el('td', {text: p.vasaVersion || '—'}),
      el('td', {}, open));
  }));
  $('providers-empty').hidden = entries.length > 0;
  if (focused) {
    for (const tr of rows.rows) if (tr.dataset.name === focused) tr.querySelector('button')?.focus();
  }
  renderDetails();
}

// ---------------------------------------------------------------- details

function select(name, focus) {
  state.selected = name;
  renderProviders();
  if (focus) $('details-heading').focus();
}

function field(label, value) {
  if (value === undefined || value === null || value === '') return [];
  return [el('dt', {text: label}), el('dd', {}, value)];
}

function renderDetails() {
  const entry = state.providers.get(state.selected);
  const section = $('details');
  if (!entry) {
    section.hidden = true;
    return;
  }
  const p = entry.provider;
  section.hidden = false;
  section.dataset.name = p.name;
  $('details-name').textContent = p.displayName || shortName(p.name);
  const time = (t) => (t ? new Date(t).toLocaleString() : '');
  $('details-fields').replaceChildren(
    ...field('Resource name', p.name),
    ...field('Status', badge(providerStatuses, p.status)),
    ...field('Certificate', badge(certificateStatuses, p.certificateStatus)),
    ...field('Certificate expires', p.certificateExpireTime ? `${time(p.certificateExpireTime)} (${expiryText(p.certificateExpireTime)})` : ''),
    ...field('Certificate SHA-256', p.certificateSha256Fingerprint ? el('code', {text: p.certificateSha256Fingerprint}) : ''),
    ...field('URL', p.url),
    ...field('VASA version', p.vasaVersion),
    ...field('Provider version', p.version),
    ...field('Last sync', time(p.lastSyncTime)),
    ...field('UID', p.uid),
    ...field('Description', p.description),
    ...field('Automatic reconnect', entry.recoveryNeeded ? 'gave up: the certificate must be recovered' : ''));
  const faults = [];
  if (p.statusFault) faults.push(renderFault(p.statusFault, {title: 'Why the provider is in this state'}));
  if (entry.autoReconnectError) faults.push(renderFault(entry.autoReconnectError, {title: 'The last automatic reconnect failed'}));
  $('details-fault').replaceChildren(...faults);
  const viewer = state.role !== 'operator';
  for (const b of section.querySelectorAll('[data-action]')) b.disabled = viewer;
  $('actions-note').textContent = viewer ? 'Your role is viewer: the actions need the operator role.' : '';
}

// ---------------------------------------------------------------- actions

const actions = {
  reconnect: {label: 'Reconnect', text: 'vCenter reconnects to the provider (VasaProviderReconnect_Task).'},
  sync: {label: 'Sync', text: 'vCenter syncs the provider\u2019s storage information (VasaProviderSync_Task).'},
  refreshCertificate: {label: 'Refresh certificate', text: 'vCenter issues the provider a new VMCA-signed certificate (VasaProviderRefreshCertificate_Task).'},
  recover: {label: 'Recover', text: 'The gateway checks the certificate the provider presents, then unregisters the provider and registers it again with that certificate. The provider gets a new resource name.'},
};

let pending = null; // {action, name, opener}

for (const b of document.querySelectorAll('[data-action]')) {
  b.addEventListener('click', () => openConfirm(b.dataset.action, state.selected, b));
}

function openConfirm(action, name, opener) {
  const entry = state.providers.get(name);
  if (!entry) return;
  const a = actions[action];
  const id = entry.provider.displayName || shortName(name);
  pending = {action, name, id, opener, requestId: newRequestId()};
  $('confirm-heading').textContent = `${a.label} ${id}?`;
  $('confirm-text').textContent = `${a.text} Provider: ${name}.`;
  $('confirm-ok').textContent = a.label;
  $('confirm-error').textContent = '';
  const recover = action === 'recover';
  $('recover-fields').hidden = !recover;
  $('recover-presented').hidden = true;
  for (const i of ['recover-username', 'recover-password', 'recover-fingerprint']) {
    $(i).value = '';
    $(i).required = recover && i !== 'recover-fingerprint';
  }
  $('recover-old-fingerprint').textContent = entry.provider.certificateSha256Fingerprint || 'none';
  $('confirm').showModal();
  (recover ? $('recover-username') : $('confirm-ok')).focus();
}

function closeConfirm() {
  const opener = pending?.opener;
  pending = null;
  $('recover-password').value = '';
  if ($('confirm').open) $('confirm').close();
  if (opener && !opener.disabled && document.contains(opener)) opener.focus();
}

$('confirm-cancel').addEventListener('click', closeConfirm);
$('confirm').addEventListener('cancel', (e) => {
  e.preventDefault();
  closeConfirm();
});

$('recover-use-presented').addEventListener('click', () => {
  $('recover-fingerprint').value = $('recover-presented-fingerprint').textContent;
  $('recover-password').focus();
});

$('confirm-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!pending) return;
  const p = pending;
  const body = {requestId: p.requestId};
  if (p.action === 'recover') {
    body.username = $('recover-username').value.trim();
    body.password = $('recover-password').value;
    const fp = $('recover-fingerprint').value.trim();
    if (fp) body.certificateSha256Fingerprint = fp;
    if (!body.username || !body.password) {
      $('confirm-error').textContent = 'Enter the provider\u2019s username and password.';
      (body.username ? $('recover-password') : $('recover-username')).focus();
      return;
    }
  }
  $('confirm-ok').disabled = true;
  try {
    const task = await call('POST', `${resourcePath(p.name)}:${p.action}`, body);
    closeConfirm();
    addTask(p, task, null);
  } catch (err) {
    if (isUnauthenticated(err)) {
      closeConfirm();
      showSignIn(`The gateway asks for credentials again: ${refusal(err)}`);
      return;
    }
    const fp = errorInfo(err.status)?.metadata?.certificateSha256Fingerprint;
    if (p.action === 'recover' && err instanceof ApiError && err.httpStatus === 400 && fp) {
      // The pre-flight changed nothing: let the operator check what the
      // provider presents, and confirm it, in the same dialog.
      $('confirm-error').textContent = faultMessage(err.status);
      $('recover-presented-fingerprint').textContent = fp;
      $('recover-presented').hidden = false;
      pending.requestId = newRequestId();
      return;
    }
    closeConfirm();
    addTask(p, null, err.status || {message: String(err)});
  } finally {
    $('confirm-ok').disabled = false;
  }
});

// ------------------------------------------------------------------ tasks

const taskStates = {
  STATE_QUEUED: ['Queued', 'neutral'],
  STATE_RUNNING: ['Running', 'warn'],
  STATE_SUCCEEDED: ['Succeeded', 'ok'],
  STATE_FAILED: ['Failed', 'bad'],
};

const stepKinds = {
  KIND_PREFLIGHT: 'Check the certificate the provider presents',
  KIND_UNREGISTER: 'Unregister the provider',
  KIND_REGISTER: 'Register the provider',
  KIND_REGISTER_WITH_CERTIFICATE: 'Register with the confirmed certificate',
  KIND_WAIT_ONLINE: 'Wait until the provider is online',
};

let taskCount = 0;

// addTask shows one action's outcome: a refused call's fault at once, or
// the task followed live until it ends.
function addTask(p, task, refused) {
  $('tasks-empty').hidden = true;
  const n = ++taskCount;
  const label = `${actions[p.action].label} ${p.id}`;
  const li = el('li', {class: 'task', 'data-action': p.action, 'data-target': p.name});
  const title = el('h3', {id: `task-${n}-title`, text: label});
  const progress = el('progress', {max: '100', 'aria-labelledby': `task-${n}-title`});
  const status = el('p', {class: 'task-status', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true'});
  const steps = el('ol', {class: 'steps', 'aria-label': `Steps of ${label}`, hidden: true});
  const fault = el('div', {class: 'fault-slot'});
  const meta = el('p', {class: 'muted'});
  li.append(title, progress, status, steps, fault, meta);
  $('tasks').prepend(li);
  if (refused) {
    li.dataset.state = 'REFUSED';
    progress.remove();
    status.textContent = 'Refused by the gateway: nothing was started.';
    fault.replaceChildren(renderFault(refused));
    fault.firstChild.setAttribute('role', 'alert');
    return;
  }
  meta.textContent = `Task ${task.name}`;
  const show = (t) => {
    li.dataset.state = t.state || '';
    const [stateLabel] = taskStates[t.state] || ['Unknown'];
    const pct = t.state === 'STATE_SUCCEEDED' ? 100 : t.progressPercent;
    if (pct === undefined || pct === null) progress.removeAttribute('value');
    else progress.value = pct;
    status.textContent = pct === undefined || pct === null ? stateLabel : `${stateLabel}: ${pct} %`;
    if (t.result) {
      li.dataset.result = t.result;
      meta.textContent = `Task ${t.name}; result ${t.result}`;
    }
    if (t.steps && t.steps.length) {
      steps.hidden = false;
      steps.replaceChildren(...t.steps.map((s) => {
        const [sl, tone] = taskStates[s.state] || ['Unknown', 'neutral'];
        const item = el('li', {'data-kind': s.kind, 'data-state': s.state}, stepKinds[s.kind] || s.kind, ' ', el('span', {class: `badge ${tone}`, text: sl}));
        if (s.error) item.append(renderFault(s.error));
        return item;
      }));
    }
    if (t.state === 'STATE_FAILED' && t.error) fault.replaceChildren(renderFault(t.error));
    if (terminal(t)) {
      // A recovery registers the provider anew, under another name: the
      // details follow it.
      if (t.state === 'STATE_SUCCEEDED' && t.result && state.selected === p.name) {
        state.selected = t.result;
        renderProviders();
      }
      pollNow();
    }
  };
  show(task);
  followTask(task, show, (st) => fault.replaceChildren(renderFault(st, {title: 'The task can no longer be followed'})));
}

function terminal(t) {
  return t.state === 'STATE_SUCCEEDED' || t.state === 'STATE_FAILED';
}

// followTask watches a task over SSE until it ends; if the watch is not
// served, it reads the task every taskPollInterval instead.
async function followTask(task, show, lost) {
  if (terminal(task)) return;
  const ctl = new AbortController();
  state.tasks.add(ctl);
  let last = task;
  try {
    try {
      await watch(`${resourcePath(task.name)}:watch`, {
        signal: ctl.signal,
        onEvent: (ev) => {
          if (ev.type === 'task') {
            last = JSON.parse(ev.data);
            show(last);
          } else if (ev.type === 'error') {
            lost(statusFromBody(0, ev.data));
          }
        },
      });
    } catch (err) {
      if (ctl.signal.aborted) return;
      if (err instanceof StreamRefused && err.status !== 404 && err.status !== 501 && err.status !== 406) {
        lost(statusFromBody(err.status, err.body));
        return;
      }
    }
    while (!terminal(last) && !ctl.signal.aborted) {
      await sleep(taskPollInterval, ctl.signal);
      if (ctl.signal.aborted) return;
      try {
        last = await call('GET', resourcePath(task.name));
        show(last);
      } catch (err) {
        lost(err.status || {message: String(err)});
        return;
      }
    }
  } finally {
    state.tasks.delete(ctl);
  }
}

start();
