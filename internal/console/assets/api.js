// The REST API as the console calls it: the caller's bearer token (held in
// this module's memory only, never in storage), JSON in and out, errors as
// google.rpc.Status.

import {readEventStream} from './sse.js';

let token = '';

export function setToken(t) {
  token = t.trim();
}

export function hasToken() {
  return token !== '';
}

function authHeaders() {
  return token ? {Authorization: `Bearer ${token}`} : {};
}

// ApiError is a refused call: the HTTP status and the google.rpc.Status
// the gateway answered with (or one made up from the HTTP status when the
// body is not a Status).
export class ApiError extends Error {
  constructor(httpStatus, status) {
    super(status.message || `HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.status = status;
  }

  get reason() {
    return errorInfo(this.status)?.reason || '';
  }
}

// statusFromBody reads a google.rpc.Status from an error body, also the
// {"error": Status} chunk a refused stream answers with.
export function statusFromBody(httpStatus, text) {
  try {
    const v = JSON.parse(text);
    const st = v && v.error && typeof v.error === 'object' ? v.error : v;
    if (st && typeof st === 'object' && ('code' in st || 'message' in st)) {
      return {code: st.code || 0, message: st.message || '', details: Array.isArray(st.details) ? st.details : []};
    }
  } catch {
    // Not JSON: a proxy's page, say.
  }
  return {code: 0, message: `HTTP ${httpStatus}`, details: []};
}

export async function call(method, path, body) {
  const init = {method, headers: {...authHeaders(), Accept: 'application/json'}, cache: 'no-store', credentials: 'same-origin'};
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, statusFromBody(response.status, text));
  return text ? JSON.parse(text) : {};
}

// watch reads an SSE stream of the API, with the caller's credentials.
export function watch(path, opts) {
  return readEventStream(path, {...opts, headers: authHeaders()});
}

// resourcePath is the REST path of a resource name, its last segment
// escaped (a moId may hold ':', which the API takes as %3A).
export function resourcePath(name) {
  const i = name.lastIndexOf('/') + 1;
  return '/v1/' + name.slice(0, i) + encodeURIComponent(name.slice(i));
}

const typePrefix = 'type.googleapis.com/';

export function detailsOf(status, type) {
  return (status?.details || []).filter((d) => d['@type'] === typePrefix + type);
}

export function errorInfo(status) {
  return detailsOf(status, 'google.rpc.ErrorInfo')[0];
}

// newRequestId is a random (version 4) UUID for an action's request_id,
// so that a retried POST returns the task of the first. It does not need
// crypto.randomUUID, which only secure contexts have.
export function newRequestId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
