/**
 * Hostile peers for the hardening tests and benches: raw TCP upstreams and clients that do a real
 * RFC 6455 opening handshake and then write whatever bytes a test wants (absurd length headers,
 * cut-off frames, floods of tiny frames, deflate bombs, seeded random noise), and builders for
 * malformed upgrade requests. Everything is built here from RFC 6455 / RFC 7692 directly, not with
 * frametap's own encoder, so a bug in the code under test cannot hide itself in its own test input.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import zlib from 'node:zlib';
import { JsonlWriter } from '../../src/capture/jsonl-writer.js';
import { startProxy, type ProxyOptions, type RunningProxy } from '../../src/proxy/server.js';
import { EventBus } from '../../src/session/event-bus.js';
import { cap, type CapturedEvent } from './captured.js';
import { deferred } from './deferred.js';

/* ------------------------------------------------------------------------------------------------
 * Promises with timeouts
 * ---------------------------------------------------------------------------------------------- */

export { deferred, type Deferred } from './deferred.js';

/** Rejects with `what` named when `promise` does not settle within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` on every macrotask turn until it is true (no fixed sleeps), failing after `ms`. */
export async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs `task(0..total-1)` with at most `concurrency` in flight; rejects on the first failure. */
export async function pool(total: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const index = next++;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

/* ------------------------------------------------------------------------------------------------
 * Seeded randomness: a fuzz failure must be reproducible from the seed printed with it
 * ---------------------------------------------------------------------------------------------- */

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG; the same seed gives the same bytes everywhere. */
export class SeededRandom {
  #state: number;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  uint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Integer in [0, max). */
  int(max: number): number {
    return this.uint32() % max;
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.uint32(), i);
    if (i < n) {
      const last = this.uint32();
      for (let k = 0; i < n; i++, k++) out[i] = (last >>> (8 * k)) & 0xff;
    }
    return out;
  }
}

/* ------------------------------------------------------------------------------------------------
 * Frames, built straight from RFC 6455 §5.2
 * ---------------------------------------------------------------------------------------------- */

export interface RawFrameSpec {
  readonly fin?: boolean;
  readonly rsv1?: boolean;
  readonly rsv2?: boolean;
  readonly rsv3?: boolean;
  readonly opcode: number;
  /** 4-byte masking key (client frames, RFC 6455 §5.3); absent for server frames. */
  readonly mask?: Buffer;
  /** Length written in the header; defaults to the payload's. A bigint reaches the 64-bit form. */
  readonly declaredLength?: number | bigint;
  /** Force a length form: 7-bit, 16-bit (126) or 64-bit (127). */
  readonly lengthForm?: 7 | 16 | 64;
  readonly payload?: Buffer;
}

/** One frame's bytes. The payload is masked into a new buffer, never in place. */
export function rawFrame(spec: RawFrameSpec): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  const declared = BigInt(spec.declaredLength ?? payload.length);
  const form = spec.lengthForm ?? (declared < 126n ? 7 : declared <= 0xffffn ? 16 : 64);
  const headerLength = 2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (spec.mask ? 4 : 0);
  const out = Buffer.allocUnsafe(headerLength + payload.length);
  out[0] =
    ((spec.fin ?? true) ? 0x80 : 0) |
    (spec.rsv1 ? 0x40 : 0) |
    (spec.rsv2 ? 0x20 : 0) |
    (spec.rsv3 ? 0x10 : 0) |
    (spec.opcode & 0x0f);
  const maskBit = spec.mask ? 0x80 : 0;
  let at = 2;
  if (form === 7) {
    out[1] = maskBit | Number(declared & 0x7fn);
  } else if (form === 16) {
    out[1] = maskBit | 126;
    out.writeUInt16BE(Number(declared & 0xffffn), 2);
    at = 4;
  } else {
    out[1] = maskBit | 127;
    out.writeBigUInt64BE(declared & 0xffffffffffffffffn, 2);
    at = 10;
  }
  if (spec.mask) {
    spec.mask.copy(out, at, 0, 4);
    at += 4;
    for (let i = 0; i < payload.length; i++) out[at + i] = payload[i]! ^ spec.mask[i & 3]!;
  } else {
    payload.copy(out, at);
  }
  return out;
}

/** A client frame (masked with a fresh key) or a server frame (unmasked). */
export function frameFrom(from: 'client' | 'server', spec: Omit<RawFrameSpec, 'mask'>): Buffer {
  return rawFrame(from === 'client' ? { ...spec, mask: randomBytes(4) } : spec);
}

/** RFC 6455 §5.5.1: a close body is a 2-byte code followed by a UTF-8 reason. */
export function closeBody(code: number, reason = ''): Buffer {
  const body = Buffer.alloc(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2);
  return body;
}

/** A frame header declaring 2^63−1 payload bytes (largest length with the MSB clear, RFC 6455 §5.2). */
export function maxLengthHeader(from: 'client' | 'server'): Buffer {
  return frameFrom(from, { opcode: 0x2, declaredLength: 0x7fffffffffffffffn });
}

export const GIB = 1024 * 1024 * 1024;

/** A binary frame header declaring 1 GiB, followed by `sent` payload bytes (the caller then closes). */
export function gibDeclaredFrame(from: 'client' | 'server', sent: number): Buffer {
  const mask = from === 'client' ? randomBytes(4) : undefined;
  const header = rawFrame({ opcode: 0x2, declaredLength: GIB, ...(mask ? { mask } : {}) });
  return Buffer.concat([header, Buffer.alloc(sent, 0x61)]);
}

/** `count` one-byte text frames ("a") back to back in one buffer: one chunk, one write. */
export function tinyFrames(from: 'client' | 'server', count: number): Buffer {
  const one = frameFrom(from, { opcode: 0x1, payload: Buffer.from('a') });
  const out = Buffer.allocUnsafe(one.length * count);
  for (let i = 0; i < count; i++) one.copy(out, i * one.length);
  return out;
}

const bombs = new Map<number, Promise<Buffer>>();

/**
 * A permessage-deflate message body that inflates to `inflatedBytes` zero bytes (a zip bomb), built
 * by streaming zero-filled chunks through deflateRaw (Z_RLE: ~1 KiB per MiB, fast) and memoised per
 * test process. RFC 7692 §7.2.1: the sender flushes with an empty stored block and strips its
 * trailing 0x00 0x00 0xff 0xff.
 */
export function zipBomb(inflatedBytes: number): Promise<Buffer> {
  let bomb = bombs.get(inflatedBytes);
  if (!bomb) {
    bomb = buildZipBomb(inflatedBytes);
    bombs.set(inflatedBytes, bomb);
  }
  return bomb;
}

async function buildZipBomb(inflatedBytes: number): Promise<Buffer> {
  const deflater = zlib.createDeflateRaw({ level: 9, strategy: zlib.constants.Z_RLE });
  const parts: Buffer[] = [];
  deflater.on('data', (chunk: Buffer) => parts.push(chunk));
  const zeros = Buffer.alloc(Math.min(4 * 1024 * 1024, inflatedBytes));
  for (let left = inflatedBytes; left > 0; left -= zeros.length) {
    const piece = left >= zeros.length ? zeros : zeros.subarray(0, left);
    if (!deflater.write(piece)) await new Promise((resolve) => deflater.once('drain', resolve));
  }
  await new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  deflater.close();
  const all = Buffer.concat(parts);
  return all.subarray(0, all.length - 4);
}

/* ------------------------------------------------------------------------------------------------
 * Upgrade requests, well-formed and not
 * ---------------------------------------------------------------------------------------------- */

/** RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). */
export function acceptFor(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

export function newKey(): string {
  return randomBytes(16).toString('base64');
}

export interface UpgradeRequestSpec {
  readonly host: string;
  readonly target?: string;
  readonly key?: string | null;
  readonly version?: string | null;
  /** Extra header lines, as written. */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  /** e.g. `permessage-deflate; client_max_window_bits` */
  readonly extensions?: string;
  readonly protocol?: string;
}

/** The raw bytes of an upgrade request (RFC 6455 §4.1); null for key/version leaves that header out. */
export function upgradeRequest(spec: UpgradeRequestSpec): string {
  const lines = [`GET ${spec.target ?? '/'} HTTP/1.1`, `Host: ${spec.host}`, 'Upgrade: websocket', 'Connection: Upgrade'];
  const key = spec.key === undefined ? newKey() : spec.key;
  if (key !== null) lines.push(`Sec-WebSocket-Key: ${key}`);
  const version = spec.version === undefined ? '13' : spec.version;
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  if (spec.extensions) lines.push(`Sec-WebSocket-Extensions: ${spec.extensions}`);
  if (spec.protocol) lines.push(`Sec-WebSocket-Protocol: ${spec.protocol}`);
  for (const [name, value] of spec.headers ?? []) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Node's default `--max-http-header-size` is 16 KiB; this goes well past it. */
export const OVERSIZED_HEADER_BYTES = 64 * 1024;

/** Malformed or hostile upgrade requests, each as the raw bytes a client would write. */
export const malformedUpgrade = {
  /** RFC 6455 §4.2.1 item 5: the key is required. */
  missingKey: (host: string) => upgradeRequest({ host, key: null }),
  /** RFC 6455 §4.2.1 item 6: version must be 13 (§4.4: answer 426 with the versions supported). */
  wrongVersion: (host: string) => upgradeRequest({ host, version: '99' }),
  /** Headers beyond Node's limit: the HTTP parser must reject them (431) without the proxy falling over. */
  hugeHeaders: (host: string) =>
    upgradeRequest({ host, headers: [['X-Padding', 'p'.repeat(OVERSIZED_HEADER_BYTES)]] }),
  /** RFC 9112 §6.3: differing Content-Length values are unrecoverable; a classic smuggling vector. */
  duplicateContentLength: (host: string, smuggled: string) =>
    upgradeRequest({ host, headers: [['Content-Length', '0'], ['Content-Length', String(smuggled.length)]] }) + smuggled,
  /** RFC 9112 §6.1: Transfer-Encoding with Content-Length is a smuggling attempt. */
  contentLengthAndChunked: (host: string, smuggled: string) =>
    upgradeRequest({ host, headers: [['Content-Length', String(smuggled.length + 5)], ['Transfer-Encoding', 'chunked']] }) +
    `0\r\n\r\n${smuggled}`,
  /** An absolute-form target naming another host (RFC 9112 §3.2.2): must not turn the proxy into an open relay. */
  absoluteTargetOtherHost: (host: string, otherHostPort: string) =>
    upgradeRequest({ host, target: `http://${otherHostPort}/steal` }),
};

/* ------------------------------------------------------------------------------------------------
 * Reading raw HTTP heads off a socket
 * ---------------------------------------------------------------------------------------------- */

export interface RawHead {
  /** Request line or status line. */
  readonly startLine: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Bytes that arrived after the blank line, in the same reads. */
  readonly rest: Buffer;
}

export interface RawResponse extends RawHead {
  readonly status: number;
}

function parseHead(head: string, rest: Buffer): RawHead {
  const [startLine = '', ...lines] = head.split('\r\n');
  const headers = lines
    .filter((line) => line.length > 0)
    .map((line): readonly [string, string] => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon), line.slice(colon + 1).trim()];
    });
  return { startLine, headers, rest };
}

export function header(head: RawHead, name: string): string | undefined {
  const lower = name.toLowerCase();
  return head.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

/**
 * Reads an HTTP head (up to the blank line) from `socket`; the bytes after it come back as `rest`
 * and any later data stays in the socket. Rejects when the socket ends first.
 */
export function readHead(socket: net.Socket, ms = 5000): Promise<RawHead> {
  return withTimeout(
    new Promise<RawHead>((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.off('error', onError);
      };
      const onData = (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        cleanup();
        socket.pause();
        resolve(parseHead(buffered.subarray(0, end).toString('latin1'), buffered.subarray(end + 4)));
      };
      const onEnd = () => {
        cleanup();
        reject(new Error(`socket ended before an HTTP head (got ${buffered.length} bytes)`));
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
      socket.on('error', onError);
      socket.resume();
    }),
    ms,
    'an HTTP head',
  );
}

export async function readResponse(socket: net.Socket, ms = 5000): Promise<RawResponse> {
  const head = await readHead(socket, ms);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.startLine)?.[1] ?? NaN);
  return { ...head, status };
}

/** Everything a socket receives until it closes, and how it closed. */
export interface Collected {
  readonly bytes: Buffer;
  /** The peer sent FIN (`end` fired) before the close. */
  readonly ended: boolean;
  /** The socket closed with an error (e.g. ECONNRESET). */
  readonly errorCode: string | null;
}

export function collectUntilClose(socket: net.Socket, initial: Buffer = Buffer.alloc(0)): Promise<Collected> {
  return new Promise((resolve) => {
    const parts: Buffer[] = initial.length > 0 ? [initial] : [];
    let ended = false;
    let errorCode: string | null = null;
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    socket.on('end', () => {
      ended = true;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      errorCode = error.code ?? error.message;
    });
    socket.on('close', () => resolve({ bytes: Buffer.concat(parts), ended, errorCode }));
    socket.resume();
  });
}

/* ------------------------------------------------------------------------------------------------
 * A raw upstream: real handshake, then a script writes whatever it wants
 * ---------------------------------------------------------------------------------------------- */

export interface UpstreamConnection {
  readonly socket: net.Socket;
  readonly request: RawHead;
  /** Bytes received after the request head (frames), appended as they arrive. */
  readonly received: Buffer[];
  readonly receivedBytes: () => number;
  /** Resolves when the socket is fully closed. */
  readonly closed: Promise<void>;
  /** The client's FIN arrived. */
  readonly ended: () => boolean;
  /** The socket's error code (ECONNRESET for a reset), null when none. */
  readonly errorCode: () => string | null;
}

export interface RawUpstreamOptions {
  /** Answer to the upgrade request; default 101 with the right accept. Return a full raw response to refuse. */
  readonly respond?: (request: RawHead) => string | Buffer;
  /** Extensions header value put in the 101 (e.g. `permessage-deflate`), or one per request. */
  readonly extensions?: string | ((request: RawHead) => string | undefined);
  /** Bytes written in the same write as the 101 (server frames sharing its TCP segment). */
  readonly withResponse?: (request: RawHead) => Buffer;
  /** Hold the 101 until this resolves. */
  readonly holdResponse?: (request: RawHead) => Promise<void>;
  /** Runs once the 101 is written. */
  readonly onUpgrade?: (conn: UpstreamConnection) => void;
  /** Keep writing after the client's FIN (a half-close test); default: end with it, as TCP servers do. */
  readonly allowHalfOpen?: boolean;
}

export interface RawUpstream {
  readonly port: number;
  readonly url: string;
  /** TCP connections accepted. */
  readonly accepted: () => number;
  readonly connections: readonly UpstreamConnection[];
  /** Resolves with the next upgraded connection (or one already there and not yet taken). */
  nextConnection(ms?: number): Promise<UpstreamConnection>;
  close(): Promise<void>;
}

export function switchingProtocols(request: RawHead, extensions?: string): string {
  const key = header(request, 'sec-websocket-key') ?? '';
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`];
  if (extensions) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export async function startRawUpstream(options: RawUpstreamOptions = {}): Promise<RawUpstream> {
  const connections: UpstreamConnection[] = [];
  const sockets = new Set<net.Socket>();
  const waiting: Array<(conn: UpstreamConnection) => void> = [];
  let taken = 0;
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    void handle(socket).catch(() => socket.destroy());
  });

  async function handle(socket: net.Socket): Promise<void> {
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const request = await readHead(socket, 30_000);
    const received: Buffer[] = request.rest.length > 0 ? [request.rest] : [];
    let count = request.rest.length;
    let ended = false;
    let errorCode: string | null = null;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      errorCode = error.code ?? error.message;
    });
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      count += chunk.length;
    });
    socket.on('end', () => {
      ended = true;
    });
    if (options.holdResponse) await options.holdResponse(request);
    if (socket.destroyed) return;
    if (options.respond) {
      socket.write(options.respond(request));
      socket.resume();
      return;
    }
    const extensions = typeof options.extensions === 'function' ? options.extensions(request) : options.extensions;
    const answer = Buffer.from(switchingProtocols(request, extensions), 'latin1');
    socket.write(options.withResponse ? Buffer.concat([answer, options.withResponse(request)]) : answer);
    const conn: UpstreamConnection = {
      socket,
      request,
      received,
      receivedBytes: () => count,
      closed,
      ended: () => ended,
      errorCode: () => errorCode,
    };
    connections.push(conn);
    socket.resume();
    options.onUpgrade?.(conn);
    const waiter = waiting.shift();
    if (waiter) {
      taken++;
      waiter(conn);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    accepted: () => accepted,
    connections,
    nextConnection(ms = 5000) {
      if (taken < connections.length) return Promise.resolve(connections[taken++]!);
      const d = deferred<UpstreamConnection>();
      waiting.push(d.resolve);
      return withTimeout(d.promise, ms, 'an upgraded upstream connection');
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/* ------------------------------------------------------------------------------------------------
 * A raw client
 * ---------------------------------------------------------------------------------------------- */

export function connectRaw(port: number, host = '127.0.0.1', allowHalfOpen = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, allowHalfOpen });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export interface RawClient {
  readonly socket: net.Socket;
  readonly response: RawResponse;
}

/**
 * Connects, writes an upgrade request (plus `early`, client bytes in the same write, before any
 * answer) and reads the response head. The socket is paused afterwards; `response.rest` holds the
 * bytes that came with the head.
 */
export async function rawUpgrade(
  port: number,
  spec: Omit<UpgradeRequestSpec, 'host'> & { readonly early?: Buffer; readonly allowHalfOpen?: boolean } = {},
): Promise<RawClient> {
  const socket = await connectRaw(port, '127.0.0.1', spec.allowHalfOpen ?? false);
  socket.on('error', () => undefined);
  const request = Buffer.from(upgradeRequest({ ...spec, host: `127.0.0.1:${port}` }), 'latin1');
  socket.write(spec.early ? Buffer.concat([request, spec.early]) : request);
  const response = await readResponse(socket);
  return { socket, response };
}

/* ------------------------------------------------------------------------------------------------
 * Process figures (Linux /proc)
 * ---------------------------------------------------------------------------------------------- */

export function fdCount(pid: number = process.pid): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size in bytes, from /proc/PID/status (works for other processes too). */
export function rssBytes(pid: number = process.pid): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** Things a test opened, closed in reverse order in `afterEach`. */
export class Cleanup {
  #items: Array<() => unknown> = [];

  add(close: () => unknown): void {
    this.#items.push(close);
  }

  socket<T extends net.Socket>(socket: T): T {
    this.add(() => socket.destroy());
    return socket;
  }

  async run(): Promise<void> {
    const items = this.#items.reverse();
    this.#items = [];
    for (const close of items) {
      try {
        await close();
      } catch {
        // Closing something already gone is fine in a teardown.
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------------
 * frametap in-process, with its events collected
 * ---------------------------------------------------------------------------------------------- */

export interface ProxyUnderTest {
  readonly proxy: RunningProxy;
  readonly bus: EventBus;
  /** Every event published, in order (unless `keepEvents: false`). */
  readonly events: CapturedEvent[];
  /** `open` / `end` events per conn id, always counted. */
  readonly opens: Map<number, number>;
  readonly ends: Map<number, number>;
  /** Errors thrown by a sink (must stay empty). */
  readonly sinkErrors: unknown[];
  readonly capturePath: string | null;
  /** Resolves with the first event (already seen or to come) matching `match`. */
  waitForEvent<T extends CapturedEvent>(match: (event: CapturedEvent) => event is T, ms?: number, what?: string): Promise<T>;
  waitForEvent(match: (event: CapturedEvent) => boolean, ms?: number, what?: string): Promise<CapturedEvent>;
  stop(): Promise<void>;
}

export interface ProxyUnderTestOptions extends Partial<Omit<ProxyOptions, 'bus' | 'upstream'>> {
  /** Write a capture (JsonlWriter) to this path too. */
  readonly capturePath?: string;
  readonly keepEvents?: boolean;
}

/** frametap's proxy on 127.0.0.1:0 in front of `upstream`, as `frametap proxy` wires it. */
export async function startProxyUnderTest(upstream: string, options: ProxyUnderTestOptions = {}): Promise<ProxyUnderTest> {
  const sinkErrors: unknown[] = [];
  const bus = new EventBus((_name, error) => sinkErrors.push(error));
  const events: CapturedEvent[] = [];
  const opens = new Map<number, number>();
  const ends = new Map<number, number>();
  const waiters: Array<{ match: (event: CapturedEvent) => boolean; resolve: (event: CapturedEvent) => void }> = [];
  const keep = options.keepEvents ?? true;
  bus.subscribe('test', (published) => {
    const event = cap(published);
    if (keep) events.push(event);
    if (event.type === 'open') opens.set(event.conn, (opens.get(event.conn) ?? 0) + 1);
    else if (event.type === 'end') ends.set(event.conn, (ends.get(event.conn) ?? 0) + 1);
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      if (w.match(event)) {
        waiters.splice(i--, 1);
        w.resolve(event);
      }
    }
  });
  let writer: JsonlWriter | null = null;
  if (options.capturePath) {
    const w = JsonlWriter.create(options.capturePath, {
      type: 'capture',
      format: 'frametap-capture',
      version: 1,
      started: new Date().toISOString(),
      tool: { name: 'frametap', version: 'test' },
      mode: 'reverse',
      listen: null,
      upstream,
    });
    writer = w;
    bus.subscribe('capture', (event) => w.write(event));
    // Its worker thread's own descriptors are there from now on (fd counts start after this).
    await w.ready();
  }
  const proxy = await startProxy({
    upstream: new URL(upstream),
    listen: { host: '127.0.0.1', port: 0 },
    bus,
    maxPayload: options.maxPayload ?? 1024 * 1024,
    insecure: options.insecure ?? false,
    keepHost: options.keepHost ?? false,
    headers: options.headers ?? [],
    redact: options.redact ?? [],
    ...(options.upstreamTimeoutMs !== undefined ? { upstreamTimeoutMs: options.upstreamTimeoutMs } : {}),
  });
  if (writer) writer.onPressure((high) => proxy.throttle(high));
  let stopped = false;
  return {
    proxy,
    bus,
    events,
    opens,
    ends,
    sinkErrors,
    capturePath: options.capturePath ?? null,
    waitForEvent(match: (event: CapturedEvent) => boolean, ms = 5000, what = 'an event') {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      const d = deferred<CapturedEvent>();
      waiters.push({ match, resolve: d.resolve });
      return withTimeout(d.promise, ms, what);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await proxy.stop();
      await writer?.close();
    },
  } as ProxyUnderTest;
}

/** Events of one connection, of one type. */
export function ofType<K extends CapturedEvent['type']>(events: readonly CapturedEvent[], type: K, conn?: number): Array<Extract<CapturedEvent, { type: K }>> {
  return events.filter(
    (e): e is Extract<CapturedEvent, { type: K }> => e.type === type && (conn === undefined || ('conn' in e && e.conn === conn)),
  );
}

/* ------------------------------------------------------------------------------------------------
 * Seeded fuzz through the real proxy
 * ---------------------------------------------------------------------------------------------- */

/** Noise, or frames with random header bits, lengths, masks and a flipped byte now and then. */
export function hostileStream(rng: SeededRandom, from: 'client' | 'server'): Buffer {
  if (rng.int(2) === 0) return rng.bytes(rng.int(1500));
  const parts: Buffer[] = [];
  const frames = 1 + rng.int(8);
  for (let i = 0; i < frames; i++) {
    const masked = from === 'client' ? rng.int(8) !== 0 : rng.int(8) === 0;
    const payload = rng.bytes(rng.int(4) === 0 ? 126 + rng.int(400) : rng.int(126));
    const form = payload.length < 126 && rng.int(6) !== 0 ? 7 : payload.length <= 0xffff && rng.int(3) !== 0 ? 16 : 64;
    const frame = rawFrame({
      fin: rng.int(4) !== 0,
      rsv1: rng.int(3) === 0,
      rsv2: rng.int(12) === 0,
      rsv3: rng.int(12) === 0,
      opcode: [0, 1, 2, 8, 9, 10, 3, 11][rng.int(8)]!,
      payload,
      lengthForm: form,
      ...(masked ? { mask: rng.bytes(4) } : {}),
    });
    if (rng.int(5) === 0) frame[rng.int(frame.length)] ^= 1 << rng.int(8);
    parts.push(frame);
  }
  return Buffer.concat(parts);
}

type Ending = 'end' | 'destroy' | 'reset';
const ENDINGS: readonly Ending[] = ['end', 'end', 'destroy', 'reset'];

function finishSocket(socket: net.Socket, how: Ending): void {
  if (how === 'end') socket.end();
  else if (how === 'destroy') socket.destroy();
  else socket.resetAndDestroy();
}

export interface FuzzResult {
  readonly pt: ProxyUnderTest;
  /** Connections where both peers ended politely and the client got exactly what the server sent. */
  readonly identical: number;
  /** Seeds whose connection misbehaved, with what went wrong. */
  readonly failures: readonly string[];
}

/**
 * `connections` connections through a fresh proxy, connection i driven by `SeededRandom(seed + i)`:
 * both peers write a hostile stream after the upgrade and end in a random way (FIN, destroy, RST);
 * every third one negotiates permessage-deflate so the inflater meets garbage too.
 */
export async function fuzzThroughProxy(seed: number, connections: number, concurrency: number, cleanup: Cleanup): Promise<FuzzResult> {
  const plans = new Map<number, { readonly server: Buffer; readonly ending: Ending }>();
  const indexOf = (request: RawHead) => Number(/^GET \/fuzz\/(\d+)/.exec(request.startLine)?.[1]);
  const upstream = await startRawUpstream({
    extensions: (request) => (indexOf(request) % 3 === 0 ? 'permessage-deflate' : undefined),
    onUpgrade: (conn) => {
      const plan = plans.get(indexOf(conn.request));
      if (!plan) conn.socket.destroy();
      else conn.socket.write(plan.server, () => finishSocket(conn.socket, plan.ending));
    },
  });
  cleanup.add(() => upstream.close());
  const pt = await startProxyUnderTest(upstream.url, { keepEvents: false, maxPayload: 4096 });
  cleanup.add(() => pt.stop());
  const failures: string[] = [];
  let identical = 0;
  await pool(connections, concurrency, async (i) => {
    const rng = new SeededRandom(seed + i);
    const server = hostileStream(rng, 'server');
    const serverEnding = ENDINGS[rng.int(ENDINGS.length)]!;
    const client = hostileStream(rng, 'client');
    const clientEnding = ENDINGS[rng.int(ENDINGS.length)]!;
    plans.set(i, { server, ending: serverEnding });
    const deflate = i % 3 === 0;
    const raw = await rawUpgrade(pt.proxy.port, { target: `/fuzz/${i}`, ...(deflate ? { extensions: 'permessage-deflate; client_max_window_bits' } : {}) });
    if (raw.response.status !== 101 || (deflate && header(raw.response, 'sec-websocket-extensions') !== 'permessage-deflate')) {
      failures.push(`seed ${seed + i}: upgrade answered ${raw.response.startLine}`);
    }
    const received = collectUntilClose(raw.socket, raw.response.rest);
    raw.socket.write(client, () => {
      if (clientEnding !== 'end') finishSocket(raw.socket, clientEnding);
    });
    if (clientEnding === 'end') raw.socket.end();
    const got = await withTimeout(received, 10_000, `connection ${i} (seed ${seed + i}) to close`);
    plans.delete(i);
    if (clientEnding === 'end' && serverEnding === 'end') {
      if (got.bytes.equals(server)) identical++;
      else failures.push(`seed ${seed + i}: the client got ${got.bytes.length} bytes, the server sent ${server.length}`);
    }
  });
  return { pt, identical, failures };
}
