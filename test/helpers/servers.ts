/**
 * Real peers for integration tests, all on 127.0.0.1 port 0: a `ws` echo server and a `ws`
 * client, each with a tap on its raw socket so a test can compare the bytes each side sent and
 * received after the upgrade.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type PerMessageDeflateOptions } from 'ws';
import { deferred, withTimeout } from './deferred.js';

/** Every byte a socket wrote and read, in order. */
export class SocketTap {
  readonly #sent: Buffer[] = [];
  readonly #received: Buffer[] = [];

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.#received.push(Buffer.from(chunk)));
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    // Wrap this instance's write: the HTTP head and every frame a peer sends go through it.
    (socket as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
      const [data, encoding] = args;
      if (typeof data === 'string') this.#sent.push(Buffer.from(data, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
      else if (data instanceof Uint8Array) this.#sent.push(Buffer.from(data));
      return write(...args);
    };
  }

  /** Bytes written after the HTTP head (the WebSocket stream). */
  get sentAfterUpgrade(): Buffer {
    return afterHead(Buffer.concat(this.#sent));
  }

  /** Bytes read after the HTTP head. */
  get receivedAfterUpgrade(): Buffer {
    return afterHead(Buffer.concat(this.#received));
  }

  get received(): Buffer {
    return Buffer.concat(this.#received);
  }
}

function afterHead(bytes: Buffer): Buffer {
  const end = bytes.indexOf('\r\n\r\n');
  return end < 0 ? Buffer.alloc(0) : bytes.subarray(end + 4);
}

export interface EchoServer {
  readonly port: number;
  readonly url: string;
  readonly wss: WebSocketServer;
  readonly http: http.Server;
  /** Raw taps of the accepted sockets, in accept order. */
  readonly taps: SocketTap[];
  /** Server-side `ws` objects, in connection order. */
  readonly sockets: WebSocket[];
  /** Resolves with the n-th (0-based) server-side connection. */
  connection(n?: number): Promise<WebSocket>;
  close(): Promise<void>;
}

export interface EchoServerOptions {
  readonly perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Answer messages with the same data (default true). */
  readonly echo?: boolean;
  /** Plain HTTP requests (for a page loaded through the proxy). */
  readonly onRequest?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  readonly handleProtocols?: (protocols: Set<string>) => string | false;
}

/** A `ws` server that echoes every message back, listening on 127.0.0.1:0. */
export async function startEchoServer(options: EchoServerOptions = {}): Promise<EchoServer> {
  const server = http.createServer((req, res) => {
    if (options.onRequest) options.onRequest(req, res);
    else res.writeHead(404).end();
  });
  const taps: SocketTap[] = [];
  server.on('connection', (socket: net.Socket) => taps.push(new SocketTap(socket)));
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: options.perMessageDeflate ?? false,
    ...(options.handleProtocols ? { handleProtocols: options.handleProtocols } : {}),
  });
  const sockets: WebSocket[] = [];
  const waiters: Array<{ n: number; resolve: (ws: WebSocket) => void }> = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('error', () => {});
    if (options.echo !== false) ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    for (const w of waiters.filter((x) => x.n === sockets.length - 1)) w.resolve(ws);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    wss,
    http: server,
    taps,
    sockets,
    connection(n = 0) {
      const existing = sockets[n];
      if (existing) return Promise.resolve(existing);
      const d = deferred<WebSocket>();
      waiters.push({ n, resolve: d.resolve });
      return withTimeout(d.promise, `server connection ${n}`);
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface TappedClient {
  readonly ws: WebSocket;
  readonly tap: () => SocketTap;
  /** Messages received, in order. */
  readonly messages: Array<{ data: Buffer; isBinary: boolean }>;
  /** Resolves with the n-th (0-based) received message. */
  message(n: number): Promise<{ data: Buffer; isBinary: boolean }>;
  /** Resolves with close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** A `ws` client whose raw socket is tapped from its first byte; resolves once open. */
export async function connectClient(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}, protocols?: string | string[]): Promise<TappedClient> {
  let tap: SocketTap | undefined;
  const ws = new WebSocket(url, protocols, {
    ...options,
    createConnection: ((opts: net.NetConnectOpts) => {
      const socket = net.connect(opts);
      tap = new SocketTap(socket);
      return socket;
    }) as never,
  });
  const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  const waiters: Array<{ n: number; resolve: (m: { data: Buffer; isBinary: boolean }) => void }> = [];
  ws.on('message', (data, isBinary) => {
    const m = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]), isBinary };
    messages.push(m);
    for (const w of waiters.filter((x) => x.n === messages.length - 1)) w.resolve(m);
  });
  const closed = deferred<{ code: number; reason: string }>();
  ws.on('close', (code, reason) => closed.resolve({ code, reason: reason.toString() }));
  const opened = deferred();
  ws.once('open', () => opened.resolve());
  ws.once('error', (error) => opened.reject(error));
  ws.on('error', () => {});
  await withTimeout(opened.promise, `client open ${url}`);
  return {
    ws,
    tap: () => {
      if (!tap) throw new Error('no socket tapped');
      return tap;
    },
    messages,
    message(n) {
      const existing = messages[n];
      if (existing) return Promise.resolve(existing);
      const d = deferred<{ data: Buffer; isBinary: boolean }>();
      waiters.push({ n, resolve: d.resolve });
      return withTimeout(d.promise, `client message ${n}`);
    },
    closed: closed.promise,
  };
}

/** A port on 127.0.0.1 that was free a moment ago (for a child that prints no listening line). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
