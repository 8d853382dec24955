/**
 * Raw TCP peers that speak just enough HTTP to complete a WebSocket handshake and then read and
 * write arbitrary bytes: they can send what a `ws` peer would refuse to (every violation).
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { deferred, withTimeout, type Deferred } from './deferred.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function accept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** Bytes read from one socket, with a way to wait until at least n have arrived. */
export class ByteSink {
  #chunks: Buffer[] = [];
  #length = 0;
  #waiters: Array<{ n: number; d: Deferred<Buffer> }> = [];
  readonly ended: Deferred<void> = deferred();

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    for (const w of this.#waiters) if (this.#length >= w.n) w.d.resolve(this.bytes);
    this.#waiters = this.#waiters.filter((w) => this.#length < w.n);
  }

  get bytes(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  /** Resolves with everything read once at least `n` bytes are there. */
  atLeast(n: number, ms = 5000): Promise<Buffer> {
    if (this.#length >= n) return Promise.resolve(this.bytes);
    const d = deferred<Buffer>();
    this.#waiters.push({ n, d });
    return withTimeout(d.promise, `${n} bytes (have ${this.#length})`, ms);
  }
}

export interface RawServerConnection {
  readonly socket: net.Socket;
  /** The upgrade request head as received. */
  readonly request: string;
  /** Bytes received after the request head. */
  readonly received: ByteSink;
}

export interface RawServer {
  readonly port: number;
  readonly url: string;
  /** Resolves with the n-th (0-based) connection, once its handshake is answered. */
  connection(n?: number): Promise<RawServerConnection>;
  close(): Promise<void>;
}

export interface RawServerOptions {
  /** Extra response header lines (e.g. `Sec-WebSocket-Extensions: permessage-deflate`). */
  readonly headers?: readonly string[] | ((request: string) => readonly string[]);
  /** Bytes written right after the 101 (in the same write), or a function of the request head. */
  readonly afterUpgrade?: Buffer | ((request: string) => Buffer);
  /** Answer with this whole response instead of a 101 (for refusals); the socket is then ended. */
  readonly response?: Buffer;
}

/** A TCP server that answers one WebSocket handshake per connection, then writes `afterUpgrade`. */
export async function startRawServer(options: RawServerOptions = {}): Promise<RawServer> {
  const connections: RawServerConnection[] = [];
  const waiters: Array<{ n: number; d: Deferred<RawServerConnection> }> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = Buffer.alloc(0);
    let sink: ByteSink | null = null;
    socket.on('data', (chunk: Buffer) => {
      if (sink) return sink.push(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const request = head.subarray(0, end + 4).toString('latin1');
      sink = new ByteSink();
      socket.on('end', () => sink!.ended.resolve());
      if (head.length > end + 4) sink.push(head.subarray(end + 4));
      if (options.response) {
        socket.end(options.response);
      } else {
        const key = /^sec-websocket-key:\s*(\S+)/im.exec(request)?.[1] ?? '';
        const lines = [
          'HTTP/1.1 101 Switching Protocols',
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Accept: ${accept(key)}`,
          ...(typeof options.headers === 'function' ? options.headers(request) : (options.headers ?? [])),
        ];
        const after = typeof options.afterUpgrade === 'function' ? options.afterUpgrade(request) : (options.afterUpgrade ?? Buffer.alloc(0));
        socket.write(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), after]));
      }
      const conn = { socket, request, received: sink };
      connections.push(conn);
      for (const w of waiters) if (w.n === connections.length - 1) w.d.resolve(conn);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    connection(n = 0) {
      const existing = connections[n];
      if (existing) return Promise.resolve(existing);
      const d = deferred<RawServerConnection>();
      waiters.push({ n, d });
      return withTimeout(d.promise, `raw server connection ${n}`);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface RawClient {
  readonly socket: net.Socket;
  /** The response head (status line and headers) as received. */
  readonly response: string;
  readonly status: number;
  /** Bytes received after the response head. */
  readonly received: ByteSink;
  readonly closed: Promise<void>;
}

export interface RawClientOptions {
  readonly path?: string;
  readonly method?: string;
  /** Header lines replacing the defaults (Host, Upgrade, Connection, key, version) when given. */
  readonly headers?: readonly string[];
  /** Extra header lines added to the defaults. */
  readonly extraHeaders?: readonly string[];
  /** Bytes sent in the same write as the request head. */
  readonly afterRequest?: Buffer;
}

/** Connects, sends an upgrade request, resolves once the whole response head has arrived. */
export async function connectRawClient(port: number, options: RawClientOptions = {}): Promise<RawClient> {
  // Half-open allowed: a test decides when this side sends its FIN.
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => {});
  const closed = deferred();
  socket.on('close', () => closed.resolve());
  const key = randomBytes(16).toString('base64');
  const lines = options.headers ?? [
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...(options.extraHeaders ?? []),
  ];
  const head = `${options.method ?? 'GET'} ${options.path ?? '/'} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
  socket.write(Buffer.concat([Buffer.from(head, 'latin1'), options.afterRequest ?? Buffer.alloc(0)]));
  const received = new ByteSink();
  socket.on('end', () => received.ended.resolve());
  const gotHead = deferred<string>();
  let buf = Buffer.alloc(0);
  let done = false;
  socket.on('data', (chunk: Buffer) => {
    if (done) return received.push(chunk);
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    done = true;
    gotHead.resolve(buf.subarray(0, end + 4).toString('latin1'));
    if (buf.length > end + 4) received.push(buf.subarray(end + 4));
  });
  socket.on('close', () => gotHead.reject(new Error(`connection closed before a response head; got ${JSON.stringify(buf.toString('latin1'))}`)));
  const response = await withTimeout(gotHead.promise, 'raw client response head');
  const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(response)?.[1] ?? NaN);
  return { socket, response, status, received, closed: closed.promise };
}
