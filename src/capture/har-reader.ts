/**
 * A HAR with WebSocket entries (`_webSocketMessages`, as Chrome DevTools and Playwright's recordHar
 * write them) read into the capture's SessionEvents, so `view`, `replay` and `serve` treat it like a
 * capture. A HAR records messages, not frames, closes or the end: only `open`, `handshake` and
 * `message` events come out of it.
 */
import { Opcode } from '../protocol/constants.js';
import { analyzeHandshake } from '../protocol/handshake.js';
import type { HandshakeEvent, MessageEvent, OpenEvent, RawHeaders, SessionEvent } from '../session/events.js';

interface HarHeader {
  readonly name?: unknown;
  readonly value?: unknown;
}

interface HarWebSocketMessage {
  readonly type?: unknown;
  readonly time?: unknown;
  readonly opcode?: unknown;
  readonly data?: unknown;
}

interface HarEntry {
  readonly startedDateTime?: unknown;
  readonly request?: { readonly method?: unknown; readonly url?: unknown; readonly httpVersion?: unknown; readonly headers?: unknown };
  readonly response?: { readonly status?: unknown; readonly statusText?: unknown; readonly httpVersion?: unknown; readonly headers?: unknown };
  readonly _resourceType?: unknown;
  readonly _webSocketMessages?: unknown;
}

/**
 * Message `time`: Chrome DevTools writes epoch seconds (a float), Playwright's recordHar epoch
 * milliseconds. Any time since 1973 is above 1e11 in ms and below it in seconds (until year 5138).
 */
export function harTimeToMs(time: number): number {
  return time < 1e11 ? time * 1000 : time;
}

/** True when the parsed JSON looks like a HAR (`log.entries`). */
export function isHar(value: unknown): boolean {
  const log = (value as { log?: { entries?: unknown } } | null)?.log;
  return typeof log === 'object' && log !== null && Array.isArray(log.entries);
}

/** The WebSocket entries of a HAR as events; connections are numbered from 1 in entry order. */
export function harToEvents(har: unknown, onWarning: (message: string) => void = () => {}): SessionEvent[] {
  if (!isHar(har)) throw new TypeError('not a HAR: no log.entries');
  const entries = (har as { log: { entries: readonly HarEntry[] } }).log.entries;
  const events: SessionEvent[] = [];
  let conn = 0;
  for (const entry of entries) {
    if (!isWebSocketEntry(entry)) continue;
    conn++;
    events.push(...entryEvents(entry, conn, onWarning));
  }
  return events;
}

function isWebSocketEntry(entry: HarEntry): boolean {
  if (Array.isArray(entry._webSocketMessages)) return true;
  if (entry._resourceType === 'websocket') return true;
  const url = typeof entry.request?.url === 'string' ? entry.request.url : '';
  return /^wss?:/i.test(url) && entry.response?.status === 101;
}

function headersOf(list: unknown): RawHeaders {
  if (!Array.isArray(list)) return [];
  const out: [string, string][] = [];
  for (const h of list as HarHeader[]) {
    if (typeof h?.name === 'string' && typeof h.value === 'string') out.push([h.name, h.value]);
  }
  return out;
}

function httpVersion(v: unknown): string {
  const s = typeof v === 'string' ? v : '';
  const m = /^HTTP\/(\d(?:\.\d)?)$/i.exec(s.trim());
  return m ? m[1]! : '1.1';
}

function entryEvents(entry: HarEntry, conn: number, warn: (message: string) => void): SessionEvent[] {
  const url = typeof entry.request?.url === 'string' ? entry.request.url : '';
  const started = typeof entry.startedDateTime === 'string' ? Date.parse(entry.startedDateTime) : NaN;
  const messages = (Array.isArray(entry._webSocketMessages) ? entry._webSocketMessages : []) as HarWebSocketMessage[];
  const firstTime = messages.find((m) => typeof m.time === 'number')?.time as number | undefined;
  const t0 = Number.isFinite(started) ? started : firstTime !== undefined ? harTimeToMs(firstTime) : 0;

  const open: OpenEvent = { type: 'open', conn, t: t0, client: '', target: url };
  const out: SessionEvent[] = [open];
  const requestHeaders = headersOf(entry.request?.headers);
  const status = typeof entry.response?.status === 'number' ? entry.response.status : 0;
  const responseHeaders = headersOf(entry.response?.headers);
  const target = pathAndQuery(url);
  const analysis = analyzeHandshake(requestHeaders, { status, headers: responseHeaders });
  const handshake: HandshakeEvent = {
    type: 'handshake',
    conn,
    t: t0,
    request: {
      method: typeof entry.request?.method === 'string' ? entry.request.method : 'GET',
      target,
      httpVersion: httpVersion(entry.request?.httpVersion),
      headers: requestHeaders,
    },
    response:
      status > 0
        ? {
            status,
            reason: typeof entry.response?.statusText === 'string' ? entry.response.statusText : '',
            httpVersion: httpVersion(entry.response?.httpVersion),
            headers: responseHeaders,
          }
        : null,
    // DevTools records the 101 when the upgrade went through; a HAR with messages was upgraded.
    upgraded: status === 101 || messages.length > 0,
    accept: analysis.accept,
    protocol: analysis.protocol,
    extensions: analysis.extensions,
  };
  out.push(handshake);

  let skipped = 0;
  for (const m of messages) {
    const event = messageEvent(m, conn);
    if (event) out.push(event);
    else skipped++;
  }
  if (skipped > 0) warn(`HAR entry ${url}: ${skipped} WebSocket message(s) without type/time/opcode/data were skipped`);
  return out;
}

function messageEvent(m: HarWebSocketMessage, conn: number): MessageEvent | null {
  if ((m.type !== 'send' && m.type !== 'receive') || typeof m.time !== 'number' || typeof m.data !== 'string') return null;
  const opcode: 1 | 2 | null = m.opcode === Opcode.Binary ? 2 : m.opcode === Opcode.Text || m.opcode === undefined ? 1 : null;
  if (opcode === null) return null;
  const base = {
    type: 'message' as const,
    conn,
    t: harTimeToMs(m.time),
    from: m.type === 'send' ? ('client' as const) : ('server' as const),
    opcode,
    compressed: false,
    frames: 1,
    truncated: false,
  };
  if (opcode === Opcode.Text) {
    const data = Buffer.from(m.data, 'utf8');
    return { ...base, length: data.length, data };
  }
  // DevTools and Playwright both write binary message data as base64.
  const data = Buffer.from(m.data, 'base64');
  return { ...base, length: data.length, data };
}

function pathAndQuery(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}
