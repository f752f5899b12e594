// Server-Sent Events over fetch. EventSource cannot send an Authorization
// header, so the console reads the stream itself and parses it as the
// HTML standard's "event stream interpretation" says.

// SSEParser turns chunks of an event stream into events. Lines end with
// CRLF, LF or CR (a CR at the end of a chunk may be the first half of a
// CRLF); a line starting with ':' is a comment; `data` lines join with LF;
// an event is dispatched on a blank line, and only when it has data.
export class SSEParser {
  constructor() {
    this.buffer = '';
    this.pendingCR = false;
    this.reset();
    this.lastEventId = '';
  }

  reset() {
    this.eventType = '';
    this.data = [];
    this.hasData = false;
  }

  // push feeds a chunk of text and returns the events it completes, each
  // {type, data, id}.
  push(text) {
    const events = [];
    let s = text;
    if (s === '') return events;
    if (this.pendingCR && s.startsWith('\n')) s = s.slice(1);
    this.pendingCR = false;
    this.buffer += s;
    for (;;) {
      const m = /\r\n|\n|\r/.exec(this.buffer);
      if (!m) break;
      if (m[0] === '\r' && m.index === this.buffer.length - 1) {
        // A lone CR at the end: the line ends here, and an LF that starts
        // the next chunk belongs to it.
        this.pendingCR = true;
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) events.push(ev);
    }
    return events;
  }

  line(line) {
    if (line === '') {
      if (!this.hasData) {
        this.reset();
        return null;
      }
      const ev = {type: this.eventType || 'message', data: this.data.join('\n'), id: this.lastEventId};
      this.reset();
      return ev;
    }
    if (line.startsWith(':')) return null;
    const i = line.indexOf(':');
    let field = line;
    let value = '';
    if (i >= 0) {
      field = line.slice(0, i);
      value = line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      default:
        // `retry` and unknown fields: the console reconnects on its own terms.
    }
    return null;
  }
}

// StreamRefused is thrown when the server answers a stream request with
// something other than an event stream: an HTTP error with its body.
export class StreamRefused extends Error {
  constructor(response, body) {
    super(`HTTP ${response.status}`);
    this.status = response.status;
    this.body = body;
  }
}

// readEventStream GETs url with the given headers and calls onEvent for
// every event until the stream ends (it resolves) or fails (it rejects).
// onOpen runs once the server has answered with an event stream. Abort
// with signal.
export async function readEventStream(url, {headers = {}, signal, onOpen, onEvent}) {
  const response = await fetch(url, {
    headers: {...headers, Accept: 'text/event-stream'},
    signal,
    cache: 'no-store',
    credentials: 'same-origin',
  });
  const ctype = response.headers.get('Content-Type') || '';
  if (!response.ok || !ctype.startsWith('text/event-stream')) {
    const body = await response.text().catch(() => '');
    throw new StreamRefused(response, body);
  }
  if (onOpen) onOpen(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SSEParser();
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      for (const ev of parser.push(value)) onEvent(ev);
    }
  } finally {
    reader.releaseLock();
  }
}
