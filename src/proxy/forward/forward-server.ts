/**
 * The forward proxy (cli.md, `proxy` without `-u`): browsers and other clients set frametap as
 * their HTTP and HTTPS proxy. One `http.Server` takes
 * - absolute-form requests (`GET http://host/path`), relayed with http-proxy's `web()` to the host
 *   they name, and absolute-form upgrades, inspected as in reverse mode;
 * - `CONNECT host:port`, answered 200, then sniffed: a TLS ClientHello is intercepted with a leaf
 *   certificate from frametap's CA and the decrypted stream is fed back into the same server;
 *   plain HTTP (how Chromium sends ws:// through a proxy) is fed back as it is; anything else, or
 *   silence past a short timeout, or an `--ignore-hosts` match, is relayed raw.
 * Requests on a tunnel go to the CONNECT's host and port; the upstream is chosen per request and
 * every upgrade goes through the same UpgradeConnection as reverse mode.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { FrametapError } from '../../errors.js';
import type { LeafIssuer } from '../../ca/leaf-issuer.js';
import type { EventBus } from '../../session/event-bus.js';
import type { RawHeaders } from '../../session/events.js';
import { Redactor } from '../../session/redact.js';
import { preciseNow, Session } from '../../session/session.js';
import { ClientHeadTap } from '../client-head-tap.js';
import { UpgradeConnection } from '../connection.js';
import { writeStatus } from '../refusal.js';
import {
  clientErrorAnswer,
  DEFAULT_CONNECTIONS_CHECKING_INTERVAL_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  refuseUpgrade,
  type RunningProxy,
} from '../server.js';
import { codedError, describeUpstream, failureStage, forwardedHeaders, pairHeaders, sameHeaders, webSocketUrl, type DialProgress, type Upstream } from '../upstream.js';
import { MAX_CLIENT_HELLO, sniff } from './client-hello.js';
import { formatAuthority, parseConnectTarget, type ConnectTarget } from './connect-target.js';
import { directDialer, failingAgent, keylogAgent, preconnectedAgent, type Dialer } from './dialer.js';
import type { HostGlob } from './host-glob.js';
import type { Keylog } from './keylog.js';
import { relayRaw } from './raw-tunnel.js';

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
}

/** What a socket fed back into the server came through. */
interface TunnelContext {
  readonly target: ConnectTarget;
  readonly tls: boolean;
  /** The client's address on the outer TCP connection. */
  readonly client: string;
}

/** Where one request goes. */
interface Route {
  readonly upstream: Upstream;
  /** Path and query as sent upstream, byte for byte. */
  readonly path: string;
  /** The request named its host itself (absolute-form): Host is set from it (RFC 9112 §3.2.2). */
  readonly absolute: boolean;
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
  const timeoutMs = options.upstreamTimeoutMs ?? 10_000;
  const firstByteTimeoutMs = options.firstByteTimeoutMs ?? 1000;
  const handshakeTimeoutMs = options.tlsHandshakeTimeoutMs ?? 10_000;
  const dialer = options.dialer ?? directDialer();
  const keylog = options.keylog ?? null;
  let nextConn = 1;
  let throttled = false;
  const live = new Set<UpgradeConnection>();
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
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
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

  /** null: the request cannot be routed (the string says why, for a 400). */
  const routeOf = (req: http.IncomingMessage): Route | string => {
    const target = req.url ?? '';
    const tunnel = tunnels.get(req.socket);
    if (tunnel) {
      if (!target.startsWith('/')) return 'a request inside a CONNECT tunnel must have an origin-form target (/path)';
      return { upstream: describeUpstream(new URL(`${tunnel.tls ? 'wss' : 'ws'}://${tunnel.target.authority}`)), path: target, absolute: false };
    }
    // RFC 9112 §3.2.2 absolute-form: scheme "://" authority path-abempty [ "?" query ].
    const m = /^(https?|wss?):\/\/([^/?#]+)([^#]*)/i.exec(target);
    if (!m) return 'this is a forward proxy: send absolute-form requests (http://host/path) or CONNECT host:port';
    let origin: URL;
    try {
      const scheme = m[1]!.toLowerCase();
      origin = new URL(`${scheme === 'https' || scheme === 'wss' ? 'wss' : 'ws'}://${m[2]}`);
    } catch {
      return `bad request target ${JSON.stringify(target.slice(0, 200))}`;
    }
    if (origin.username || origin.password || !origin.hostname) return 'the request target must name a host without user info';
    const rest = m[3]!;
    return { upstream: describeUpstream(origin), path: rest.startsWith('/') ? rest : `/${rest}`, absolute: true };
  };

  const httpUrl = (route: Route): string => `${route.upstream.tls ? 'https' : 'http'}://${route.upstream.url.host}${route.path}`;

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
    socket.on('error', () => {});
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
    const session = new Session({ conn, bus, maxPayload: options.maxPayload, redactor });
    session.open(clientAddress(socket), webSocketUrl(route.upstream, route.path));
    const requestHeaders = pairHeaders(req.rawHeaders);
    const forwarded = forwardedHeaders(
      requestHeaders.filter(([name]) => !PROXY_HEADERS.has(name.toLowerCase())),
      { hostHeader: route.absolute ? route.upstream.hostHeader : null, extra: extraHeaders(route) },
    );
    const start = (dialed: net.Socket | null, failure: Error | null = null): void => {
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
        throttled: () => throttled,
        dialOptions: failure ? { ...dialOptions(route.upstream, null), agent: failingAgent(failure, route.upstream.tls) } : dialOptions(route.upstream, dialed),
        requestHead,
        // Bus-only `chunk` events (packet captures); inside a TLS tunnel, the decrypted bytes.
        onHandshakeBytes: (leg, from, bytes, t) => session.wire(leg, from, bytes, t),
      });
      live.add(connection);
      void connection.done.then(() => live.delete(connection));
      connection.start();
    };
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
  });

  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
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
    sniffTunnel(socket, head, conn, client, target);
  });

  /** Waits for the client's first bytes in a tunnel, then hands it to TLS, HTTP or a raw relay. */
  function sniffTunnel(socket: net.Socket, head: Buffer, conn: number, client: string, target: ConnectTarget): void {
    let buffered = head;
    let timer = setTimeout(() => decide(null), firstByteTimeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      examine();
    };
    const onClose = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
    };
    // The server's sockets allow half-open connections: a client that ends before it was
    // understood is done.
    const onEnd = (): void => {
      socket.destroy();
    };
    const examine = (): void => {
      const verdict = sniff(buffered);
      if (verdict.kind !== 'need-more') return decide(verdict);
      if (buffered.length > MAX_CLIENT_HELLO) return decide({ kind: 'tls', sni: null });
      // The first bytes came: the rest of the ClientHello gets the handshake's time box.
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (socket.destroyed) return;
        reportClientTls(conn, target, target.host, codedError(`no complete ClientHello within ${handshakeTimeoutMs} ms`, 'ETIMEDOUT'));
        socket.destroy();
      }, handshakeTimeoutMs);
    };
    const decide = (verdict: ReturnType<typeof sniff> | null): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onEnd);
      if (socket.destroyed) return;
      socket.pause();
      const host = verdict?.kind === 'tls' && verdict.sni !== null ? verdict.sni.toLowerCase() : target.host;
      if (verdict === null) return rawTunnel(socket, buffered, conn, client, target, 'client-silent');
      if (verdict.kind === 'tls' && options.ignoreHosts.some((g) => g.matches(host, target.port))) return rawTunnel(socket, buffered, conn, client, target, 'ignore-hosts');
      if (verdict.kind === 'other') return rawTunnel(socket, buffered, conn, client, target, 'not-tls-or-http');
      if (buffered.length > 0) socket.unshift(buffered);
      if (verdict.kind === 'http') {
        tunnels.set(socket, { target, tls: false, client });
        server.emit('connection', socket);
        socket.resume();
        return;
      }
      intercept(socket, conn, client, target, host);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('end', onEnd);
    if (buffered.length > 0) examine();
  }

  function intercept(socket: net.Socket, conn: number, client: string, target: ConnectTarget, host: string): void {
    let context: tls.SecureContext;
    try {
      context = options.issuer.leafFor(host).context;
    } catch {
      context = options.issuer.leafFor(target.host).context;
    }
    // No SNICallback: the context for the ClientHello's name (else the CONNECT host) is chosen
    // before the handshake starts, so a ClientHello without SNI is served too.
    const tlsSocket = new tls.TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] });
    if (keylog) keylog.watch(tlsSocket);
    wrapped.add(socket);
    track(tlsSocket);
    let secure = false;
    let failed = false;
    /** Once per handshake: an error event, and the connection closed. */
    const fail = (error: Error): void => {
      if (secure || failed) return;
      failed = true;
      clearTimeout(timer);
      reportClientTls(conn, target, host, error);
      // Only the TLS socket: it closes the socket it wraps. Destroying that one underneath a live
      // TLS wrap frees the handle the wrap still uses (a segfault in Node 20).
      tlsSocket.destroy();
    };
    const timer = setTimeout(() => fail(codedError(`client did not finish the TLS handshake within ${handshakeTimeoutMs} ms`, 'ETIMEDOUT')), handshakeTimeoutMs);
    tlsSocket.on('error', (error: Error) => fail(error));
    // The client's FIN mid-handshake: a TLS socket that never finished its handshake does not
    // close by itself on it.
    tlsSocket.once('end', () => fail(codedError('the client closed the connection during the TLS handshake', 'ECONNRESET')));
    tlsSocket.once('close', () => clearTimeout(timer));
    tlsSocket.once('secure', () => {
      secure = true;
      clearTimeout(timer);
      tunnels.set(tlsSocket, { target, tls: true, client });
      server.emit('connection', tlsSocket);
    });
    // Not socket.resume(): the TLS layer now reads the socket's handle itself (and first drains
    // what was unshifted); a resumed outer stream would compete for the bytes.
  }

  function reportClientTls(conn: number, target: ConnectTarget, host: string, error: Error): void {
    if (!bus.wants('error')) return;
    const code = (error as { code?: unknown }).code;
    bus.publish({
      type: 'error',
      conn,
      t: preciseNow(),
      stage: 'handshake',
      ...(typeof code === 'string' ? { code } : {}),
      detail: `client TLS handshake for ${host} (CONNECT ${target.authority}) failed: ${error.message.split('\n')[0]!.trim()} (does the client trust frametap's CA? see 'frametap ca')`,
    });
  }

  function rawTunnel(socket: net.Socket, pending: Buffer, conn: number, client: string, target: ConnectTarget, why: string): void {
    const started = preciseNow();
    dialer.dial(target.host, target.port, timeoutMs, (error, upstream) => {
      if (error || !upstream) {
        if (bus.wants('error')) {
          const code = (error as { code?: unknown } | null)?.code;
          bus.publish({ type: 'error', conn, t: preciseNow(), stage: 'upstream-connect', ...(typeof code === 'string' ? { code } : {}), detail: `tunnel to ${target.authority}: ${error?.message ?? 'no socket'}` });
        }
        socket.destroy();
        return;
      }
      if (socket.destroyed) {
        upstream.destroy();
        return;
      }
      track(upstream);
      socket.resume();
      relayRaw(socket, upstream, pending, ({ bytes }) => {
        if (!bus.wants('tunnel')) return;
        const t = preciseNow();
        bus.publish({ type: 'tunnel', conn, t, client, target: target.authority, why, bytes, durationMs: Math.round((t - started) * 1000) / 1000 });
      });
    });
  }

  server.on('connection', (socket: net.Socket) => {
    track(socket);
    if (bus.wants('chunk')) heads.set(socket, new ClientHeadTap(socket, http.maxHeaderSize));
  });
  server.on('clientError', (error: Error & { code?: string }, socket: net.Socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable || responding.get(socket)?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, reason, detail] = clientErrorAnswer(error.code);
    writeStatus(socket, status, reason, `frametap: ${detail}\n`);
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
    url: `http://${formatAuthority(host, address.port).replace(/:\d+$/, '')}:${address.port}`,
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
