/**
 * The live proxy: one `http.Server` whose upgrade requests are relayed with http-proxy's `ws()` and
 * whose plain requests go through `web()` (so a page loads through frametap and opens its
 * WebSocket to the same origin). Every upgrade becomes a Session publishing on the bus.
 */
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { FrametapError } from '../errors.js';
import type { EventBus } from '../session/event-bus.js';
import type { RawHeaders } from '../session/events.js';
import { Redactor } from '../session/redact.js';
import { preciseNow, Session } from '../session/session.js';
import { UpgradeConnection } from './connection.js';
import type { GateSetup } from '../gate/gate-setup.js';
import { writeStatus } from './refusal.js';
import { codedError, describeUpstream, failureStage, forwardedHeaders, pairHeaders, sameHeaders, upstreamPath, webSocketUrl, type DialProgress } from './upstream.js';

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
}

export interface RunningProxy {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  readonly openConnections: number;
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
  const upstream = describeUpstream(options.upstream);
  const redactor = new Redactor(options.redact);
  const timeoutMs = options.upstreamTimeoutMs ?? 10_000;
  const bus = options.bus;
  let nextConn = 1;
  let throttled = false;
  const live = new Set<UpgradeConnection>();
  const byRequest = new WeakMap<http.IncomingMessage, UpgradeConnection>();
  const byUpstreamSocket = new WeakMap<net.Socket, UpgradeConnection>();
  const webByRequest = new WeakMap<http.IncomingMessage, WebContext>();

  const gate = options.gate ?? null;
  const stopWatchingGate = gate?.onChange(() => {
    for (const c of live) c.refreshGate();
  });

  const proxy = httpProxy.createProxyServer({});
  // http-proxy emits 'error' only when a call has no callback; every call here has one, but an
  // EventEmitter 'error' without a listener would take the process down.
  proxy.on('error', () => {});
  const tlsOptions = {
    secure: !options.insecure,
    ...(upstream.servername !== null ? { ssl: { servername: upstream.servername } } : {}),
  };

  proxy.on('proxyReqWs', (proxyReq: http.ClientRequest, req: http.IncomingMessage) => {
    byRequest.get(req)?.onProxyRequest(proxyReq);
  });
  proxy.on('open', (proxySocket: net.Socket) => {
    byUpstreamSocket.get(proxySocket)?.onOpen(proxySocket);
  });

  proxy.on('proxyReq', (proxyReq: http.ClientRequest, req: http.IncomingMessage) => {
    const ctx = webByRequest.get(req);
    if (!ctx) return;
    proxyReq.path = ctx.path;
    if (!options.keepHost) proxyReq.setHeader('Host', upstream.hostHeader);
    for (const [name, value] of options.headers) proxyReq.setHeader(name, value);
    proxyReq.on('socket', (socket: net.Socket) => {
      socket.once('connect', () => (ctx.progress.connected = true));
      socket.once('secureConnect', () => (ctx.progress.secured = true));
    });
    const timer = setTimeout(
      () => proxyReq.destroy(codedError(`upstream did not answer within ${timeoutMs} ms`, 'ETIMEDOUT')),
      timeoutMs,
    );
    proxyReq.once('response', () => clearTimeout(timer));
    proxyReq.once('close', () => clearTimeout(timer));
  });
  proxy.on('proxyRes', (proxyRes: http.IncomingMessage, req: http.IncomingMessage) => {
    const ctx = webByRequest.get(req);
    if (ctx) ctx.status = proxyRes.statusCode ?? null;
  });

  const server = http.createServer((req, res) => {
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
    socket.on('error', () => {});
    const path = upstreamPath(upstream, req.url ?? '');
    // http-proxy silently destroys a non-GET upgrade or one for another protocol: answer them.
    if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      writeStatus(socket, 400, 'Bad Request', 'frametap: a WebSocket upgrade must be a GET with "Upgrade: websocket" (RFC 6455 §4.1)\n');
      return;
    }
    if (path === null) {
      writeStatus(socket, 400, 'Bad Request', 'frametap: the request target must be a path (this is a reverse proxy)\n');
      return;
    }
    const conn = nextConn++;
    const session = new Session({ conn, bus, maxPayload: options.maxPayload, redactor });
    session.open(`${formatHost(socket.remoteAddress ?? '?')}:${socket.remotePort ?? 0}`, webSocketUrl(upstream, path));
    const requestHeaders = pairHeaders(req.rawHeaders);
    const ctx = { conn, target: req.url ?? '/' };
    const connectionGate = gate ? gate.connection(ctx) : null;
    const dial = (): void => upgrade(req, socket, head, session, conn, path, requestHeaders, connectionGate);
    if (!gate || !gate.mayRefuse) return dial();
    // frametap may answer the upgrade itself (a script's onHandshake, `refuse=STATUS`): decide first.
    void gate.refusal(ctx, requestHeaders, connectionGate?.faults ?? null).then((refusal) => {
      if (refusal === null) return dial();
      const reason = http.STATUS_CODES[refusal.status] ?? 'Refused';
      const body = refusal.body || `frametap: refused (${refusal.actor.by}${refusal.actor.name ? ` ${refusal.actor.name}` : ''})\n`;
      session.handshake({
        request: { method: req.method ?? 'GET', target: req.url ?? '/', httpVersion: req.httpVersion, headers: requestHeaders },
        response: {
          status: refusal.status,
          reason,
          httpVersion: '1.1',
          headers: [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(Buffer.byteLength(body))], ['Connection', 'close']],
          byFrametap: true,
        },
      });
      session.intercept({ from: 'client', action: 'refuse', by: refusal.actor.by, ...(refusal.actor.name ? { name: refusal.actor.name } : {}), detail: `${refusal.status} ${reason}` }, 'client');
      writeStatus(socket, refusal.status, reason, body);
      void session.finish();
    });
  });

  function upgrade(
    req: http.IncomingMessage,
    socket: net.Socket,
    head: Buffer,
    session: Session,
    conn: number,
    path: string,
    requestHeaders: ReturnType<typeof pairHeaders>,
    connectionGate: ReturnType<GateSetup['connection']> | null,
  ): void {
    const forwarded = forwardedHeaders(requestHeaders, { hostHeader: options.keepHost ? null : upstream.hostHeader, extra: options.headers });
    const connection = new UpgradeConnection({
      session,
      req,
      client: socket,
      upstream,
      path,
      forwarded,
      changed: !sameHeaders(requestHeaders, forwarded),
      timeoutMs,
      throttled: () => throttled,
      onUpgraded: (proxySocket) => byUpstreamSocket.set(proxySocket, connection),
      gate: connectionGate && gate ? { setup: connectionGate, holdTimeoutMs: gate.holdTimeoutMs } : null,
    });
    live.add(connection);
    byRequest.set(req, connection);
    void connection.done.then(() => live.delete(connection));
    proxy.ws(req, socket, head, { target: upstream.target as unknown as httpProxy.ProxyTargetUrl, ...tlsOptions }, (error: Error) => connection.onProxyError(error));
  }

  // Every accepted socket, upgraded or not, so stop() can close them all (closeAllConnections()
  // only knows the HTTP ones).
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('clientError', (_error: Error, socket: net.Socket) => {
    writeStatus(socket, 400, 'Bad Request', 'frametap: malformed HTTP request\n');
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: Error & { code?: string }) =>
      reject(new FrametapError(`cannot listen on ${options.listen.host}:${options.listen.port}: ${error.code ?? error.message}`, { stage: 'listen', cause: error })),
    );
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });
  server.on('error', () => {});
  const address = server.address() as AddressInfo;
  const host = address.address;
  let stopping: Promise<void> | null = null;

  return {
    host,
    port: address.port,
    url: `http://${formatHost(host)}:${address.port}`,
    get openConnections() {
      return live.size;
    },
    throttle(paused: boolean) {
      throttled = paused;
      for (const c of live) c.throttle(paused);
    },
    stop() {
      if (stopping) return stopping;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const ended = Promise.all([...live].map((c) => c.shutdown()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      stopWatchingGate?.();
      stopping = Promise.all([closed, ended]).then(() => {
        proxy.close();
      });
      return stopping;
    },
  };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

