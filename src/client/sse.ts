/**
 * @module client/sse
 * An incremental Server-Sent Events parser (the WHATWG "event stream interpretation"),
 * so the SDK can read SSE through fetch() with an Authorization header, which the
 * browser's EventSource cannot send. Pure: feed it decoded text in chunks of any size
 * (a line, or even a CRLF, may be split across chunks) and it returns whole messages.
 */

/** One dispatched message. `id` is the last event ID in effect when it was dispatched. */
export interface SseMessage {
  id: string;
  event: string;
  data: string;
}

export class SseParser {
  /** The last event ID seen (kept across messages, as the spec says): send it as `Last-Event-ID`. */
  lastEventId = '';
  /** The reconnection delay the server asked for (`retry:`), or null. */
  retryMs: number | null = null;
  #buffer = '';
  /** The previous chunk ended in CR: a LF starting the next chunk belongs to that line break. */
  #afterCr = false;
  #data: string[] = [];
  #event = '';

  /** Parses `chunk` and returns the messages it completed, in order. */
  push(chunk: string): SseMessage[] {
    let text = chunk;
    if (this.#afterCr && text.startsWith('\n')) text = text.slice(1);
    this.#afterCr = false;
    this.#buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const ch = this.#buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      this.#line(this.#buffer.slice(start, i), out);
      if (ch === '\r') {
        if (i + 1 === this.#buffer.length) this.#afterCr = true;
        else if (this.#buffer[i + 1] === '\n') i++;
      }
      start = i + 1;
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  #line(line: string, out: SseMessage[]): void {
    if (line === '') {
      // A blank line dispatches; with no data there is nothing to dispatch (the id still counts).
      if (this.#data.length > 0) out.push({ id: this.lastEventId, event: this.#event || 'message', data: this.#data.join('\n') });
      this.#data = [];
      this.#event = '';
      return;
    }
    if (line.startsWith(':')) return; // a comment: heartbeats
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        return;
      case 'event':
        this.#event = value;
        return;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        return;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        return;
      default:
        return; // unknown fields are ignored
    }
  }
}
