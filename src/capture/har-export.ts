/**
 * Capture events → HAR 1.2 as Chrome DevTools writes it: one entry per WebSocket connection with the
 * upgrade request, the 101 (or refusal) response, `_resourceType: "websocket"` and
 * `_webSocketMessages` (`type` send|receive, `time` in epoch seconds, `opcode` 1|2, `data`; binary
 * as base64 as Chrome does), plus an entry per plain HTTP request (`http` events).
 */
import { Opcode } from '../protocol/constants.js';
import { writePrivateFile } from './safe-file.js';
import type { CaptureHeader, HandshakeEvent, MessageEvent, OpenEvent, RawHeaders, SessionEvent } from '../session/events.js';
import { UsageError } from '../errors.js';
import { messageText } from '../session/event-data.js';
import { encodePayload } from './payload.js';

export interface HarNameValue {
  readonly name: string;
  readonly value: string;
}

export interface HarWebSocketMessage {
  readonly type: 'send' | 'receive';
  /** Seconds since the Unix epoch (Chrome's unit). */
  readonly time: number;
  readonly opcode: 1 | 2;
  readonly data: string;
}

export interface HarEntry {
  readonly startedDateTime: string;
  readonly time: number;
  readonly request: {
    readonly method: string;
    readonly url: string;
    readonly httpVersion: string;
    readonly headers: readonly HarNameValue[];
    readonly queryString: readonly HarNameValue[];
    readonly cookies: readonly HarNameValue[];
    readonly headersSize: number;
    readonly bodySize: number;
  };
  readonly response: {
    readonly status: number;
    readonly statusText: string;
    readonly httpVersion: string;
    readonly headers: readonly HarNameValue[];
    readonly cookies: readonly HarNameValue[];
    readonly content: { readonly size: number; readonly mimeType: string };
    readonly redirectURL: string;
    readonly headersSize: number;
    readonly bodySize: number;
    readonly _transferSize: number;
    readonly _error: string | null;
  };
  readonly cache: Record<string, never>;
  readonly timings: {
    readonly blocked: number;
    readonly dns: number;
    readonly ssl: number;
    readonly connect: number;
    readonly send: number;
    readonly wait: number;
    readonly receive: number;
  };
  readonly serverIPAddress?: string;
  readonly connection?: string;
  readonly _resourceType: 'websocket' | 'other';
  readonly _webSocketMessages?: readonly HarWebSocketMessage[];
}

export interface Har {
  readonly log: {
    readonly version: '1.2';
    readonly creator: { readonly name: string; readonly version: string };
    readonly pages: readonly never[];
    readonly entries: readonly HarEntry[];
  };
}

interface Conn {
  open: OpenEvent | null;
  handshake: HandshakeEvent | null;
  messages: MessageEvent[];
  firstT: number;
  lastT: number;
}

/** Builds the HAR; entries are ordered by start time, as DevTools orders them. */
export function buildHar(header: CaptureHeader | null, events: readonly SessionEvent[], toolVersion: string): Har {
  const conns = new Map<number, Conn>();
  const entries: Array<{ readonly t: number; readonly entry: HarEntry }> = [];
  const origin = httpOrigin(header?.upstream ?? null);
  for (const e of events) {
    if (e.type === 'http') {
      entries.push({ t: e.t - e.durationMs, entry: httpEntry(e.t - e.durationMs, e.durationMs, e.method, origin + e.target, e.status) });
      continue;
    }
    if (e.conn === undefined) continue;
    let c = conns.get(e.conn);
    if (!c) {
      c = { open: null, handshake: null, messages: [], firstT: e.t, lastT: e.t };
      conns.set(e.conn, c);
    }
    c.lastT = Math.max(c.lastT, e.t);
    if (e.type === 'open') c.open = e;
    else if (e.type === 'handshake') c.handshake = e;
    else if (e.type === 'message') c.messages.push(e);
  }
  for (const c of conns.values()) {
    if (!c.handshake && c.messages.length === 0) continue;
    entries.push({ t: c.firstT, entry: webSocketEntry(c, header) });
  }
  entries.sort((a, b) => a.t - b.t);
  return {
    log: {
      version: '1.2',
      creator: { name: 'frametap', version: toolVersion },
      pages: [],
      entries: entries.map((x) => x.entry),
    },
  };
}

function webSocketEntry(c: Conn, header: CaptureHeader | null): HarEntry {
  const hs = c.handshake;
  const url = wsUrl(c, header);
  const response = hs?.response ?? null;
  const requestHeaders = hs?.request.headers ?? [];
  const waitMs = hs ? Math.max(0, hs.t - c.firstT) : 0;
  let remote: string | undefined;
  try {
    remote = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    remote = undefined;
  }
  return {
    startedDateTime: new Date(c.firstT).toISOString(),
    time: round3(c.lastT - c.firstT),
    request: {
      method: hs?.request.method ?? 'GET',
      url,
      httpVersion: `HTTP/${hs?.request.httpVersion ?? '1.1'}`,
      headers: nameValues(requestHeaders),
      queryString: queryOf(url),
      cookies: [],
      headersSize: -1,
      bodySize: 0,
    },
    response: {
      status: response?.status ?? 0,
      statusText: response?.reason ?? '',
      httpVersion: response ? `HTTP/${response.httpVersion}` : '',
      headers: nameValues(response?.headers ?? []),
      cookies: [],
      content: { size: 0, mimeType: 'x-unknown' },
      redirectURL: '',
      headersSize: -1,
      bodySize: 0,
      _transferSize: 0,
      _error: response ? null : 'net::ERR_CONNECTION_FAILED',
    },
    cache: {},
    timings: { blocked: -1, dns: -1, ssl: -1, connect: -1, send: 0, wait: round3(waitMs), receive: 0 },
    ...(remote ? { serverIPAddress: remote } : {}),
    ...(c.open ? { connection: String(c.open.conn) } : {}),
    _resourceType: 'websocket',
    // In time order, as DevTools lists them (a capture writes a compressed message when its inflating ends).
    _webSocketMessages: [...c.messages].sort((a, b) => a.t - b.t).map(
      (m): HarWebSocketMessage => ({
        type: m.from === 'client' ? 'send' : 'receive',
        time: m.t / 1000,
        opcode: m.opcode,
        // Chrome writes text frames as text and binary frames as base64; a text message that is
        // not valid UTF-8 is in the capture as base64 `data` and is written as the text it decodes to.
        data: m.opcode === Opcode.Text ? (messageText(m) ?? m.data.toString('utf8')) : encodePayload(m.data),
      }),
    ),
  };
}

function httpEntry(t: number, durationMs: number, method: string, url: string, status: number | null): HarEntry {
  return {
    startedDateTime: new Date(t).toISOString(),
    time: round3(durationMs),
    request: {
      method,
      url,
      httpVersion: 'HTTP/1.1',
      headers: [],
      queryString: queryOf(url),
      cookies: [],
      headersSize: -1,
      bodySize: 0,
    },
    response: {
      status: status ?? 0,
      statusText: '',
      httpVersion: status === null ? '' : 'HTTP/1.1',
      headers: [],
      cookies: [],
      content: { size: 0, mimeType: 'x-unknown' },
      redirectURL: '',
      headersSize: -1,
      bodySize: -1,
      _transferSize: 0,
      _error: status === null ? 'net::ERR_CONNECTION_FAILED' : null,
    },
    cache: {},
    timings: { blocked: -1, dns: -1, ssl: -1, connect: -1, send: 0, wait: round3(durationMs), receive: 0 },
    _resourceType: 'other',
  };
}

function wsUrl(c: Conn, header: CaptureHeader | null): string {
  if (c.open?.target) return c.open.target.replace(/^http/, 'ws');
  const origin = httpOrigin(header?.upstream ?? null).replace(/^http/, 'ws');
  return origin + (c.handshake?.request.target ?? '/');
}

function httpOrigin(upstream: string | null): string {
  if (!upstream) return 'http://localhost';
  try {
    return new URL(upstream.replace(/^ws/, 'http')).origin;
  } catch {
    return 'http://localhost';
  }
}

function nameValues(headers: RawHeaders): HarNameValue[] {
  return headers.map(([name, value]) => ({ name, value }));
}

function queryOf(url: string): HarNameValue[] {
  try {
    return [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    return [];
  }
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Writes the HAR with mode 0600 (it holds cookies and tokens), replacing an existing file and never
 * writing through a link planted at the path (safe-file.ts).
 */
export function writeHar(path: string, har: Har): void {
  try {
    writePrivateFile(path, [`${JSON.stringify(har, null, 2)}\n`]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`cannot write the HAR '${path}' (${code}): check the directory exists and is writable`);
  }
}
