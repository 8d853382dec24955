/**
 * The live proxy: one `http.Server` whose upgrade requests are relayed by UpgradeConnection
 * (connection.ts: the handshake byte for byte, then the tee) and whose plain requests go through
 * http-proxy's `web()` (so a page loads through frametap and opens its WebSocket to the same
 * origin). Every upgrade becomes a Session publishing on the bus.
 */
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { FrametapError } from '../errors.js';
import { listenOn } from './listen.js';
import { LiveConnections } from './live-connections.js';
export { listenOn } from './listen.js';
import type { EventBus } from '../session/event-bus.js';
import type { RawHeaders } from '../session/events.js';
import { Redactor } from '../session/redact.js';
import { preciseNow, Session } from '../session/session.js';
import { ClientHeadTap } from './client-head-tap.js';
import { UpgradeConnection } from './connection.js';
import type { GateSetup } from '../gate/gate-setup.js';
import { DEFAULT_INFLATE_CONCURRENCY, InflateLimiter, type InflateLimiterStats } from '../protocol/inflate-limiter.js';
import { keylogAgent as keylogAgentFor } from './forward/dialer.js';
import type { Keylog } from './forward/keylog.js';
import { writeStatus } from './refusal.js';
import { decideUpgrade, upgradeGateOption } from './upgrade-gate.js';
import { codedError, describeUpstream, failureStage, forwardedHeaders, pairHeaders, sameHeaders, upstreamPath, webSocketUrl, type DialProgress } from './upstream.js';

/**
 * How long a client may take to send a request head (Node's default is 60 s, checked every 30 s,
 * so a slowloris client held a socket for up to 90 s). Browsers send a head in one write.
 */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** How long a whole plain HTTP request, body included, may take to arrive (Node's default). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** How often Node checks those two timeouts: a late client is answered within this of its deadline. */
export const DEFAULT_CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

export interface ProxyOptions {
  readonly upstream: URL;
  readonly listen: { readonly host: string; readonly port: number };
  readonly bus: EventBus;
  readonly maxPayload: number;
  readonly insecure: boolean;
  readonly keepHost: boolean;
  /** `-H`: headers set on what is forwarded upstream. */
  readonly headers: RawHeaders;
  readonly redact: readonly string[];
  /** How long the upstream may take to answer (connect + response); default 10000. */
  readonly upstreamTimeoutMs?: number;
  /** `--rules`, `--script`, `--fault`, breakpoints: what may act on the traffic; null or absent: nothing does. */
  readonly gate?: GateSetup | null;
  /** Inflates running at once across all connections (default DEFAULT_INFLATE_CONCURRENCY). */
  readonly inflateConcurrency?: number;
  /** How long a client may take to send a request head; default DEFAULT_HEADERS_TIMEOUT_MS. */
  readonly headersTimeoutMs?: number;
  /** How long a plain request may take to arrive, body included; default DEFAULT_REQUEST_TIMEOUT_MS. */
  readonly requestTimeoutMs?: number;
  /** How often those two are checked; default DEFAULT_CONNECTIONS_CHECKING_INTERVAL_MS. */
  readonly connectionsCheckingIntervalMs?: number;
  /** `--keylog`: the upstream leg's TLS secrets (the client leg is plain in reverse mode). */
  readonly keylog?: Keylog | null;
}

export interface RunningProxy {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  readonly openConnections: number;
  /** The shared inflate bound's figures (how often and how long inflates waited for a slot). */
  readonly inflateStats: InflateLimiterStats;
  /** Capture backpressure: pause/resume reading every relayed socket. */
  throttle(paused: boolean): void;
  /** Stop accepting, close open connections (one `end` with `shutdown: true` each); resolves when all ended. */
  stop(): Promise<void>;
}

/** Per plain HTTP request: what the `http` event and the dial need. */
interface WebContext {
  readonly conn: number;
  readonly path: string;
  readonly started: number;
  status: number | null;
  readonly progress: DialProgress;
}

export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  // One bound on concurrent inflates for every connection of this proxy (inflate-limiter.ts).
  const inflateLimiter = new InflateLimiter(options.inflateConcurrency ?? DEFAULT_INFLATE_CONCURRENCY);
  const upstream = describeUpstream(options.upstream);
  const redactor = new Redactor(options.redact);
  const timeoutMs = options.upstreamTimeoutMs ?? 10_000;
  const bus = options.bus;
  let nextConn = 1;
  const gate = options.gate ?? null;
  const live = new LiveConnections(gate);
  const heads = new WeakMap<net.Socket, ClientHeadTap>();
  /** The response in progress on a connection: a late `clientError` must not write into it. */
  const responding = new WeakMap<net.Socket, http.ServerResponse>();
  const webByRequest = new WeakMap<http.IncomingMessage, WebContext>();

  const proxy = httpProxy.createProxyServer({});
  // http-proxy emits 'error' only when a call has no callback; every call here has one, but an
  // EventEmitter 'error' without a listener would take the process down.
  proxy.on('error', () => {});
  const keylogAgent = upstream.tls && options.keylog ? keylogAgentFor(options.keylog) : null;
  const tlsOptions = {
    secure: !options.insecure,
    ...(upstream.servername !== null ? { ssl: { servername: upstream.servername } } : {}),
    ...(keylogAgent ? { agent: keylogAgent } : {}),
  };

  proxy.on('proxyReq', (proxyReq: http.ClientRequest, req: http.IncomingMessage) => {
    const ctx = webByRequest.get(req);
    if (!ctx) return;
    proxyReq.path = ctx.path;
    if (!options.keepHost) proxyReq.setHeader('Host', upstream.hostHeader);
    for (const [name, value] of options.headers) proxyReq.setHeader(name, value);
    // http-proxy emits `proxyReq` from the request's own `socket` event: listening for that event
    // here would be too late (a TLS failure was then reported as upstream-connect).
    const socket = proxyReq.socket;
    if (socket) {
      if (socket.connecting) socket.once('connect', () => (ctx.progress.connected = true));
      else ctx.progress.connected = true;
      if (upstream.tls) socket.once('secureConnect', () => (ctx.progress.secured = true));
    }
    const timer = setTimeout(
      () => proxyReq.destroy(codedError(`upstream did not answer within ${timeoutMs} ms`, 'ETIMEDOUT')),
      timeoutMs,
    );
    proxyReq.once('response', () => clearTimeout(timer));
    proxyReq.once('close', () => clearTimeout(timer));
    // A request that names `Upgrade` without `Connection: upgrade` is plain HTTP, and so is its
    // relay: an upstream that answers it with a 101 anyway has switched to a protocol nobody asked
    // for. Without a listener Node drops the socket and neither `response` nor `error` ever comes,
    // holding the client forever (issue 11): end it as a failed request, a 502.
    proxyReq.once('upgrade', (_res: http.IncomingMessage, upgraded: net.Socket) => {
      upgraded.destroy();
      // Node has detached the socket from the request (and its error listener from the socket):
      // destroy(error) would report nothing, so the failure goes to http-proxy's error handler directly.
      proxyReq.emit('error', codedError('upstream answered 101 Switching Protocols to a request that did not ask to upgrade', 'EPROTO'));
    });
  });
  proxy.on('proxyRes', (proxyRes: http.IncomingMessage, req: http.IncomingMessage) => {
    const ctx = webByRequest.get(req);
    if (ctx) ctx.status = proxyRes.statusCode ?? null;
  });

  const server = http.createServer({
    headersTimeout: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
    requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: options.connectionsCheckingIntervalMs ?? DEFAULT_CONNECTIONS_CHECKING_INTERVAL_MS,
  }, (req, res) => {
    responding.set(req.socket, res);
    if (req.httpVersion !== '1.0' && hostCount(req) !== 1) {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end('frametap: a request must have exactly one Host header (RFC 9112 §3.2)\n');
      return;
    }
    const path = upstreamPath(upstream, req.url ?? '');
    if (path === null) {
      // Absolute-form targets would let a client pick the host: this is a reverse proxy.
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('frametap: the request target must be a path (this is a reverse proxy)\n');
      return;
    }
    const ctx: WebContext = { conn: nextConn++, path, started: preciseNow(), status: null, progress: { connected: false, secured: false } };
    webByRequest.set(req, ctx);
    res.once('close', () => {
      if (!bus.wants('http')) return;
      const t = preciseNow();
      bus.publish({
        type: 'http',
        conn: ctx.conn,
        t,
        method: req.method ?? 'GET',
        target: redactor.target(req.url ?? '/'),
        status: ctx.status,
        durationMs: Math.round((t - ctx.started) * 1000) / 1000,
      });
    });
    // http-proxy emits `proxyReq` (where the path, Host and -H are applied, and the timeout set)
    // only when the request carries no `Expect`. Node's server has already answered
    // `100 Continue` to the client itself (no `checkContinue` listener), so the upstream need not.
    delete req.headers.expect;
    proxy.web(req, res, { target: upstream.target as unknown as httpProxy.ProxyTargetUrl, ...tlsOptions }, (error: Error) => {
      if (ctx.status !== null) {
        res.destroy();
        return;
      }
      const stage = failureStage(upstream, ctx.progress);
      if (bus.wants('error')) {
        const code = (error as { code?: unknown }).code;
        bus.publish({ type: 'error', conn: ctx.conn, t: preciseNow(), stage, ...(typeof code === 'string' ? { code } : {}), detail: error.message });
      }
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`frametap: upstream ${upstream.url.host} failed (${stage}): ${error.message}\n`);
    });
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', ignoreSocketError);
    const requestHead = heads.get(socket)?.take(req, head) ?? null;
    heads.delete(socket);
    const refusal = refuseUpgrade(req);
    if (refusal !== null) {
      writeStatus(socket, 400, 'Bad Request', `frametap: ${refusal}\n`);
      return;
    }
    const path = upstreamPath(upstream, req.url ?? '');
    if (path === null) {
      writeStatus(socket, 400, 'Bad Request', 'frametap: the request target must be a path (this is a reverse proxy)\n');
      return;
    }
    const conn = nextConn++;
    const session = new Session({ conn, bus, maxPayload: options.maxPayload, redactor, inflateLimiter });
    session.open(`${formatHost(socket.remoteAddress ?? '?')}:${socket.remotePort ?? 0}`, webSocketUrl(upstream, path));
    const requestHeaders = pairHeaders(req.rawHeaders);
    const ctx = { conn, target: req.url ?? '/' };
    const connectionGate = gate ? gate.connection(ctx) : null;
    const dial = (): void => upgrade(req, socket, head, requestHead, session, path, requestHeaders, connectionGate);
    if (!gate || !connectionGate) return dial();
    decideUpgrade(gate, ctx, connectionGate, req, socket, session, requestHeaders, dial);
  });

  function upgrade(
    req: http.IncomingMessage,
    socket: net.Socket,
    head: Buffer,
    requestHead: ReturnType<ClientHeadTap['take']>,
    session: Session,
    path: string,
    requestHeaders: ReturnType<typeof pairHeaders>,
    connectionGate: ReturnType<GateSetup['connection']> | null,
  ): void {
    const forwarded = forwardedHeaders(requestHeaders, { hostHeader: options.keepHost ? null : upstream.hostHeader, extra: options.headers });
    // The connection listens for the client's errors from here on (a third listener would cost
    // the socket an array of ~20 slots).
    socket.off('error', ignoreSocketError);
    const connection = new UpgradeConnection({
      session,
      req,
      client: socket,
      head,
      upstream,
      path,
      forwarded,
      changed: !sameHeaders(requestHeaders, forwarded),
      timeoutMs,
      verifyTls: !options.insecure,
      ...(keylogAgent ? { dialOptions: { agent: keylogAgent } } : {}),
      maxPayload: options.maxPayload,
      throttled: live.isThrottled,
      requestHead,
      // Bus-only `chunk` events (packet captures), in the session's event order; the session
      // publishes the tee's chunks itself. Dropped by the connection once upgraded.
      onHandshakeBytes: (leg, from, bytes, t) => session.wire(leg, from, bytes, t),
      gate: connectionGate && gate ? upgradeGateOption(gate, { conn: session.conn, target: req.url ?? '/' }, connectionGate) : null,
      onDone: live.forget,
    });
    live.add(connection);
    connection.start();
  }

  // Every accepted socket, upgraded or not, so stop() can close them all (closeAllConnections()
  // only knows the HTTP ones).
  const sockets = new Set<net.Socket>();
  const socketOnClose = function (this: net.Socket): void {
    sockets.delete(this);
  };
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    // `close` comes once: `on` spares the `once` wrapper each connection would keep.
    socket.on('close', socketOnClose);
    // Packet captures need the upgrade request head as it arrived (client-head-tap.ts); the tap
    // makes Node parse this connection through JS, so only when someone wants the bytes.
    if (bus.wants('chunk')) heads.set(socket, new ClientHeadTap(socket, http.maxHeaderSize));
  });

  answerClientErrors(server, responding);
  const address = await listenOn(server, options.listen);
  const host = address.address;
  let stopping: Promise<void> | null = null;

  return {
    host,
    port: address.port,
    url: `http://${formatHost(host)}:${address.port}`,
    get openConnections() {
      return live.size;
    },
    get inflateStats() {
      return inflateLimiter.stats;
    },
    throttle(paused: boolean) {
      live.throttle(paused);
    },
    stop() {
      if (stopping) return stopping;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const ended = live.shutdown();
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      stopping = Promise.all([closed, ended]).then(() => {
        proxy.close();
      });
      return stopping;
    },
  };
}

/**
 * A socket's `error` listener for when its `close` says all: one shared function, because a
 * closure made in a request handler would keep that handler's whole scope (the request, its head
 * bytes and header lists) alive for the connection's lifetime (bench/memory.ts).
 */
export function ignoreSocketError(): void {}

/** Why frametap will not relay this upgrade request (answered 400 before the upstream is contacted), or null. */
export function refuseUpgrade(req: http.IncomingMessage): string | null {
  // http-proxy silently destroyed a non-GET upgrade or one for another protocol: answer them.
  // RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP version MUST be at least 1.1."
  if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    return 'a WebSocket upgrade must be a GET with "Upgrade: websocket" (RFC 6455 §4.1)';
  }
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) {
    return 'a WebSocket upgrade must be HTTP/1.1 or later (RFC 6455 §4.1)';
  }
  const hosts = hostCount(req);
  if (hosts !== 1) return `a request must have exactly one Host header, not ${hosts} (RFC 9112 §3.2)`;
  // A body would be taken for WebSocket frames after the 101 by both peers, and Node would
  // close a chunked one with a `0\r\n\r\n` the client never sent: refuse it (issue 11).
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    return 'an upgrade request must not have a body (Content-Length or Transfer-Encoding): after the 101 its bytes would be read as frames';
  }
  return null;
}

/**
 * RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
 * request message that lacks a Host header field and to any that contains more than one". Node
 * refuses a missing one itself, but passes duplicates on (which one the upstream reads is a guess).
 */
function hostCount(req: http.IncomingMessage): number {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') n++;
  return n;
}

/** The answer to a request Node's HTTP server could not take (`clientError`). */
export function clientErrorAnswer(code: string | undefined): readonly [number, string, string] {
  // Node's headersTimeout / requestTimeout (RFC 9110 §15.5.9).
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'Request Timeout', 'the request did not arrive in time'];
  // RFC 6585 §5, as Node's own default answer does.
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'Request Header Fields Too Large', 'request header fields too large'];
  return [400, 'Bad Request', 'malformed HTTP request'];
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * A malformed or timed-out request gets its status (clientErrorAnswer) and the connection ends. A
 * plain request's body that stalls past requestTimeout while its response is already going out: no
 * second status line in the middle of it, just the end of the connection.
 */
export function answerClientErrors(server: http.Server, responding: WeakMap<net.Socket, http.ServerResponse>): void {
  server.on('clientError', (error: Error & { code?: string }, socket: net.Socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable || responding.get(socket)?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, reason, detail] = clientErrorAnswer(error.code);
    writeStatus(socket, status, reason, `frametap: ${detail}\n`);
  });
}

