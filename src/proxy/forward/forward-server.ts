/**
 * The forward proxy (cli.md, `proxy` without `-u`): browsers and other clients set frametap as
 * their HTTP and HTTPS proxy. One `http.Server` takes
 * - absolute-form requests (`GET http://host/path`), relayed with http-proxy's `web()` to the host
 *   they name, and absolute-form upgrades, inspected as in reverse mode;
 * - `CONNECT host:port`, answered 200, then sniffed: a TLS ClientHello is intercepted with a leaf
 *   certificate from frametap's CA and the decrypted stream is fed back into the same server;
 *   plain HTTP (how Chromium sends ws:// through a proxy) is fed back as it is; anything else, or
 *   silence past a short timeout, or an `--ignore-hosts` match, is relayed raw.
 * Requests on a tunnel go to the CONNECT's host and port (request-route.ts); the upstream is
 * chosen per request and every upgrade goes through the same UpgradeConnection as reverse mode.
 * What a tunnel is (TLS, HTTP, raw) is decided in connect-tunnel.ts.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import httpProxy from 'http-proxy';
import type { LeafIssuer } from '../../ca/leaf-issuer.js';
import type { EventBus } from '../../session/event-bus.js';
import type { RawHeaders } from '../../session/events.js';
import { Redactor } from '../../session/redact.js';
import { preciseNow, Session } from '../../session/session.js';
import { DEFAULT_INFLATE_CONCURRENCY, InflateLimiter } from '../../protocol/inflate-limiter.js';
import { ClientHeadTap } from '../client-head-tap.js';
import { UpgradeConnection } from '../connection.js';
import type { GateSetup } from '../../gate/gate-setup.js';
import { decideUpgrade, upgradeGateOption } from '../upgrade-gate.js';
import { writeStatus } from '../refusal.js';
import {
  answerClientErrors,
  DEFAULT_CONNECTIONS_CHECKING_INTERVAL_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  ignoreSocketError,
  listenOn,
  refuseUpgrade,
  type RunningProxy,
} from '../server.js';
import { codedError, failureStage, forwardedHeaders, pairHeaders, sameHeaders, webSocketUrl, type DialProgress, type Upstream } from '../upstream.js';
import { formatAuthority, parseConnectTarget } from './connect-target.js';
import { createTunnelHandler } from './connect-tunnel.js';
import { directDialer, failingAgent, keylogAgent, preconnectedAgent, type Dialer } from './dialer.js';
import type { HostGlob } from './host-glob.js';
import type { Keylog } from './keylog.js';
import { httpUrl, routeRequest, type Route, type TunnelContext } from './request-route.js';
import { LiveConnections } from '../live-connections.js';

/** `-H 'host-glob: Name: value'`: a header set only on requests to matching hosts. */
export interface ScopedHeader {
  readonly scope: HostGlob;
  readonly header: readonly [string, string];
}

export interface ForwardProxyOptions {
  readonly listen: { readonly host: string; readonly port: number };
  readonly bus: EventBus;
  readonly maxPayload: number;
  /** Do not verify upstream certificates. */
  readonly insecure: boolean;
  readonly headers: readonly ScopedHeader[];
  readonly redact: readonly string[];
  readonly ignoreHosts: readonly HostGlob[];
  readonly issuer: LeafIssuer;
  /** Trust for upstream TLS (upstream-trust.ts). */
  readonly upstreamTrust: tls.SecureContext;
  readonly dialer?: Dialer;
  readonly keylog?: Keylog | null;
  /** Upstream connect + answer; default 10000. */
  readonly upstreamTimeoutMs?: number;
  /** How long a CONNECT client may stay silent before its tunnel is relayed raw; default 1000. */
  readonly firstByteTimeoutMs?: number;
  /** ClientHello + TLS handshake with the client; default 10000. */
  readonly tlsHandshakeTimeoutMs?: number;
  /** Rules, script, faults, the dashboard's breakpoints (issue 13); null: every upgrade relayed untouched. */
  readonly gate?: GateSetup | null;
}

interface WebContext {
  readonly conn: number;
  readonly route: Route;
  readonly started: number;
  status: number | null;
  readonly progress: DialProgress;
}

/** Hop-by-hop headers for the proxy itself, never passed on (RFC 9110 §11.7.2; Proxy-Connection is a de-facto one). */
const PROXY_HEADERS = new Set(['proxy-authorization', 'proxy-connection']);

export async function startForwardProxy(options: ForwardProxyOptions): Promise<RunningProxy> {
  const bus = options.bus;
  const redactor = new Redactor(options.redact);
  // One bound on concurrent inflates for every connection of this proxy (inflate-limiter.ts).
  const inflateLimiter = new InflateLimiter(DEFAULT_INFLATE_CONCURRENCY);
  const timeoutMs = options.upstreamTimeoutMs ?? 10_000;
  const firstByteTimeoutMs = options.firstByteTimeoutMs ?? 1000;
  const handshakeTimeoutMs = options.tlsHandshakeTimeoutMs ?? 10_000;
  const dialer = options.dialer ?? directDialer();
  const keylog = options.keylog ?? null;
  let nextConn = 1;
  const gate = options.gate ?? null;
  const live = new LiveConnections(gate);
  const tunnels = new WeakMap<net.Socket, TunnelContext>();
  /** Packet captures (`chunk` events) need each upgrade request head as it arrived. */
  const heads = new WeakMap<net.Socket, ClientHeadTap>();
  /** The response in progress on a connection: a late `clientError` must not write into it. */
  const responding = new WeakMap<http.IncomingMessage['socket'], http.ServerResponse>();
  /** Direct dials with --keylog go through this agent, which watches each TLS socket it makes. */
  const loggingAgents = keylog ? { http: undefined, https: keylogAgent(keylog) } : null;
  const webByRequest = new WeakMap<http.IncomingMessage, WebContext>();
  const sockets = new Set<net.Socket>();
  /** Sockets a TLSSocket wraps: closed through it, never destroyed underneath it. */
  const wrapped = new WeakSet<net.Socket>();
  const untrack = function (this: net.Socket): void {
    sockets.delete(this);
  };
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    // `close` comes once: `on` spares the `once` wrapper each connection would keep.
    socket.on('close', untrack);
  };

  const proxy = httpProxy.createProxyServer({});
  proxy.on('error', () => {});

  /** The agent for one upstream request: a socket dialed beforehand, or a key-logging one, or none. */
  const agentFor = (upstream: Upstream, dialed: net.Socket | null): http.Agent | undefined =>
    dialed ? preconnectedAgent(dialed, upstream.tls, keylog) : upstream.tls ? loggingAgents?.https : undefined;

  /** http-proxy options for one upstream; a fresh `ssl` object each time (http-proxy mutates it). */
  const targetOptions = (upstream: Upstream, dialed: net.Socket | null): httpProxy.ServerOptions => {
    const agent = agentFor(upstream, dialed);
    return {
      target: upstream.target as unknown as httpProxy.ProxyTargetUrl,
      secure: !options.insecure,
      // '' (not undefined): no SNI for an IP literal (RFC 6066 §3), and Node then takes no name from Host.
      ssl: { servername: upstream.servername ?? '', secureContext: options.upstreamTrust },
      ...(agent ? { agent } : {}),
    };
  };

  /** The same for an upgrade, which UpgradeConnection dials itself. */
  const dialOptions = (upstream: Upstream, dialed: net.Socket | null): https.RequestOptions => {
    const agent = agentFor(upstream, dialed);
    return {
      ...(upstream.tls ? { servername: upstream.servername ?? '', secureContext: options.upstreamTrust } : {}),
      ...(agent ? { agent } : {}),
    };
  };

  /**
   * With --upstream-proxy the TCP path is dialed first (a CONNECT through it); directly, the
   * request dials itself. Calls back with the socket (null when dialing directly) or the error.
   */
  const dialFirst = (upstream: Upstream, go: (error: Error | null, dialed: net.Socket | null) => void): void => {
    if (!dialer.viaProxy) return go(null, null);
    dialer.dial(upstream.target.hostname, upstream.target.port, timeoutMs, (error, socket) => {
      // Not tracked for stop(): a TLS wrap goes on it, and it is closed through that.
      if (error || !socket) return go(error ?? new Error('no socket'), null);
      go(null, socket);
    });
  };

  const extraHeaders = (route: Route): RawHeaders =>
    options.headers.filter((h) => h.scope.matches(route.upstream.target.hostname, route.upstream.target.port)).map((h) => h.header);

  const clientAddress = (socket: net.Socket): string =>
    tunnels.get(socket)?.client ?? formatAuthority(socket.remoteAddress ?? '?', socket.remotePort ?? 0);

  const routeOf = (req: http.IncomingMessage): Route | string => routeRequest(req.url ?? '', tunnels.get(req.socket));

  proxy.on('proxyReq', (proxyReq: http.ClientRequest, req: http.IncomingMessage) => {
    const ctx = webByRequest.get(req);
    if (!ctx) return;
    proxyReq.path = ctx.route.path;
    for (const name of PROXY_HEADERS) proxyReq.removeHeader(name);
    if (ctx.route.absolute) proxyReq.setHeader('Host', ctx.route.upstream.hostHeader);
    for (const [name, value] of extraHeaders(ctx.route)) proxyReq.setHeader(name, value);
    // http-proxy 1.18 emits `proxyReq` from the request's own 'socket' event: the socket is there.
    const socket = proxyReq.socket;
    if (socket) {
      if (socket.connecting) socket.once('connect', () => (ctx.progress.connected = true));
      else ctx.progress.connected = true;
      socket.once('secureConnect', () => (ctx.progress.secured = true));
    }
    const timer = setTimeout(() => proxyReq.destroy(codedError(`upstream did not answer within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    proxyReq.once('response', () => clearTimeout(timer));
    proxyReq.once('close', () => clearTimeout(timer));
  });
  proxy.on('proxyRes', (proxyRes: http.IncomingMessage, req: http.IncomingMessage) => {
    const ctx = webByRequest.get(req);
    if (ctx) ctx.status = proxyRes.statusCode ?? null;
  });

  const server = http.createServer({
    headersTimeout: DEFAULT_HEADERS_TIMEOUT_MS,
    requestTimeout: DEFAULT_REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: DEFAULT_CONNECTIONS_CHECKING_INTERVAL_MS,
  }, (req, res) => {
    responding.set(req.socket, res);
    const route = routeOf(req);
    if (typeof route === 'string') {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`frametap: ${route}\n`);
      return;
    }
    const ctx: WebContext = { conn: nextConn++, route, started: preciseNow(), status: null, progress: { connected: false, secured: false } };
    webByRequest.set(req, ctx);
    res.once('close', () => {
      if (!bus.wants('http')) return;
      const t = preciseNow();
      bus.publish({
        type: 'http',
        conn: ctx.conn,
        t,
        method: req.method ?? 'GET',
        target: redactor.target(httpUrl(route)),
        status: ctx.status,
        durationMs: Math.round((t - ctx.started) * 1000) / 1000,
      });
    });
    const failed = (error: Error): void => {
      if (ctx.status !== null) {
        res.destroy();
        return;
      }
      const stage = failureStage(route.upstream, ctx.progress);
      if (bus.wants('error')) {
        const code = (error as { code?: unknown }).code;
        bus.publish({ type: 'error', conn: ctx.conn, t: preciseNow(), stage, ...(typeof code === 'string' ? { code } : {}), detail: error.message });
      }
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`frametap: upstream ${route.upstream.url.host} failed (${stage}): ${error.message}\n`);
    };
    // http-proxy emits `proxyReq` (where path, headers and timeout are applied) only without
    // `Expect`; Node's server has answered `100 Continue` itself.
    delete req.headers.expect;
    dialFirst(route.upstream, (error, dialed) => {
      if (error) return failed(error);
      if (res.destroyed) return void dialed?.destroy();
      proxy.web(req, res, targetOptions(route.upstream, dialed), failed);
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
    const route = routeOf(req);
    if (typeof route === 'string') {
      writeStatus(socket, 400, 'Bad Request', `frametap: ${route}\n`);
      return;
    }
    const conn = nextConn++;
    const session = new Session({ conn, bus, maxPayload: options.maxPayload, redactor, inflateLimiter });
    session.open(clientAddress(socket), webSocketUrl(route.upstream, route.path));
    const requestHeaders = pairHeaders(req.rawHeaders);
    const forwarded = forwardedHeaders(
      requestHeaders.filter(([name]) => !PROXY_HEADERS.has(name.toLowerCase())),
      { hostHeader: route.absolute ? route.upstream.hostHeader : null, extra: extraHeaders(route) },
    );
    // The gate's `path:` and `~REGEX` see the path and query sent upstream, as in reverse mode.
    const ctx = { conn, target: route.path };
    const connectionGate = gate ? gate.connection(ctx) : null;
    const start = (dialed: net.Socket | null, failure: Error | null = null): void => {
      // The connection listens for the client's errors from here on.
      socket.off('error', ignoreSocketError);
      const connection = new UpgradeConnection({
        session,
        req,
        client: socket,
        head,
        upstream: route.upstream,
        path: route.path,
        forwarded,
        changed: !sameHeaders(requestHeaders, forwarded),
        timeoutMs,
        verifyTls: !options.insecure,
        maxPayload: options.maxPayload,
        throttled: live.isThrottled,
        dialOptions: failure ? { ...dialOptions(route.upstream, null), agent: failingAgent(failure, route.upstream.tls) } : dialOptions(route.upstream, dialed),
        requestHead,
        // Bus-only `chunk` events (packet captures); inside a TLS tunnel, the decrypted bytes.
        onHandshakeBytes: (leg, from, bytes, t) => session.wire(leg, from, bytes, t),
        gate: gate && connectionGate ? upgradeGateOption(gate, ctx, connectionGate) : null,
        onDone: live.forget,
      });
      live.add(connection);
      connection.start();
    };
    const dial = (): void => {
      if (!dialer.viaProxy) {
        start(null);
        return;
      }
      dialFirst(route.upstream, (error, dialed) => {
        if (socket.destroyed) return void dialed?.destroy();
        // A failed dial through the other proxy fails the upgrade's own request: a 502 and an error event.
        if (error) start(null, error);
        else start(dialed);
      });
    };
    if (!gate || !connectionGate) return dial();
    decideUpgrade(gate, ctx, connectionGate, req, socket, session, requestHeaders, dial);
  });

  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', ignoreSocketError);
    // The tap reads through a `data` listener: gone before a TLS wrap takes the socket over.
    heads.get(socket)?.take(req, head);
    heads.delete(socket);
    if (tunnels.has(socket)) {
      writeStatus(socket, 400, 'Bad Request', 'frametap: CONNECT inside a CONNECT tunnel is not supported\n');
      return;
    }
    const target = parseConnectTarget(req.url ?? '');
    if (target === null) {
      writeStatus(socket, 400, 'Bad Request', `frametap: CONNECT needs a host:port target (RFC 9112 §3.2.3), got ${JSON.stringify((req.url ?? '').slice(0, 200))}\n`);
      return;
    }
    const conn = nextConn++;
    const client = formatAuthority(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    handleTunnel(socket, head, conn, client, target);
  });

  const handleTunnel = createTunnelHandler({
    bus,
    issuer: options.issuer,
    ignoreHosts: options.ignoreHosts,
    keylog,
    dialer,
    timeoutMs,
    firstByteTimeoutMs,
    handshakeTimeoutMs,
    serve: (socket, context) => {
      tunnels.set(socket, context);
      server.emit('connection', socket);
    },
    track,
    wrapped,
  });

  server.on('connection', (socket: net.Socket) => {
    track(socket);
    if (bus.wants('chunk')) heads.set(socket, new ClientHeadTap(socket, http.maxHeaderSize));
  });
  answerClientErrors(server, responding);
  const address = await listenOn(server, options.listen);
  const host = address.address;
  let stopping: Promise<void> | null = null;

  return {
    host,
    port: address.port,
    url: `http://${formatAuthority(host, address.port)}`,
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
      // Not server.closeAllConnections(): it would destroy a CONNECT socket under its TLS wrap.
      for (const socket of sockets) if (!wrapped.has(socket)) socket.destroy();
      stopping = Promise.all([closed, ended]).then(() => {
        proxy.close();
        keylog?.close();
      });
      return stopping;
    },
  };
}
