// Faults as a person needs them: what went wrong in words (the
// LocalizedMessage), what to do (PreconditionFailure, BadRequest, Help
// links, RetryInfo), and the raw google.rpc.Status folded away.

import {detailsOf, errorInfo} from './api.js';

const codeNames = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION',
  'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS',
  'UNAUTHENTICATED',
];

export function codeName(code) {
  return codeNames[code] || `code ${code}`;
}

// el builds an element with attributes and children (strings become text:
// nothing is parsed as HTML).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// faultMessage is the sentence to show: the LocalizedMessage when the
// gateway sent one, else the status message.
export function faultMessage(status) {
  const lm = detailsOf(status, 'google.rpc.LocalizedMessage')[0];
  return lm?.message || status?.message || 'The request failed.';
}

function safeURL(u) {
  try {
    const url = new URL(u, location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : '';
  } catch {
    return '';
  }
}

// renderFault returns an element describing status.
export function renderFault(status, {title} = {}) {
  const info = errorInfo(status);
  const box = el('div', {class: 'fault', 'data-reason': info?.reason || ''});
  if (title) box.append(el('p', {class: 'fault-title', text: title}));
  box.append(el('p', {class: 'fault-message', text: faultMessage(status)}));

  const steps = [];
  for (const pf of detailsOf(status, 'google.rpc.PreconditionFailure')) {
    for (const v of pf.violations || []) if (v.description) steps.push(el('li', {text: v.description}));
  }
  for (const br of detailsOf(status, 'google.rpc.BadRequest')) {
    for (const v of br.fieldViolations || []) {
      steps.push(el('li', {text: v.field ? `${v.field}: ${v.description}` : v.description}));
    }
  }
  for (const ri of detailsOf(status, 'google.rpc.RetryInfo')) {
    const s = parseFloat(String(ri.retryDelay || '').replace(/s$/, ''));
    if (Number.isFinite(s)) steps.push(el('li', {text: `Try again in ${Math.ceil(s)} s.`}));
  }
  const links = [];
  for (const h of detailsOf(status, 'google.rpc.Help')) {
    for (const l of h.links || []) {
      const href = safeURL(l.url);
      if (!href) continue;
      links.push(el('li', {}, el('a', {href, target: '_blank', rel: 'noopener noreferrer', class: 'help-link'}, l.description || href)));
    }
  }
  if (steps.length || links.length) {
    box.append(el('p', {class: 'fault-steps-title', text: 'What to do'}));
    if (steps.length) box.append(el('ul', {class: 'fault-steps'}, ...steps));
    if (links.length) box.append(el('ul', {class: 'fault-help'}, ...links));
  }

  const reason = info ? `${info.reason} (${codeName(status.code)}, ${info.domain})` : codeName(status?.code || 0);
  box.append(el('details', {class: 'fault-details'},
    el('summary', {text: `Details: ${reason}`}),
    el('pre', {text: JSON.stringify(status, null, 2)})));
  return box;
}
