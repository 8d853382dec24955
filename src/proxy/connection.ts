/**
 * One upgrade request through the proxy, from the client's `upgrade` to the last socket's close:
 * the dial (via http-proxy's `ws()`), the upstream's answer (101, refusal or failure), then the tee.
 * It owns the state that decides what the client may still be told: a 502 only while pending.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { RawHeaders } from '../session/events.js';
import { preciseNow, type Session } from '../session/session.js';
import { Tee } from './tee.js';
import { ConnectionGate } from '../gate/connection-gate.js';
import type { ConnectionSetup } from '../gate/gate-setup.js';
import type { GateLimits } from '../gate/direction-gate.js';
import { relayRefusal, writeBadGateway } from './refusal.js';
import { codedError, failureStage, pairHeaders, type DialProgress, type Upstream } from './upstream.js';

type State = 'pending' | 'upgraded' | 'refused' | 'failed' | 'closed';

export interface UpgradeConnectionOptions {
  readonly session: Session;
  readonly req: http.IncomingMessage;
  readonly client: net.Socket;
  readonly upstream: Upstream;
  /** Path and query as sent upstream. */
  readonly path: string;
  /** Header list as sent upstream. */
  readonly forwarded: RawHeaders;
  /** Whether `forwarded` differs from what the client sent (the handshake event records it then). */
  readonly changed: boolean;
  readonly timeoutMs: number;
  /** Whether every relayed socket is paused for capture backpressure right now. */
  readonly throttled: () => boolean;
  /** The upstream answered 101 on `socket` (http-proxy's `open` event names it by that socket). */
  readonly onUpgraded: (socket: net.Socket) => void;
  /** Rules, script, faults or breakpoints may act on this connection (issue 13); null: untouched relay. */
  readonly gate?: { readonly setup: ConnectionSetup; readonly holdTimeoutMs: number | null; readonly limits?: GateLimits } | null;
}

export class UpgradeConnection {
  readonly session: Session;
  readonly #o: UpgradeConnectionOptions;
  #state: State = 'pending';
  #proxyReq: http.ClientRequest | null = null;
  #timer: NodeJS.Timeout | null = null;
  #tee: Tee | null = null;
  #gate: ConnectionGate | null = null;
  /** The upstream's socket once it answered 101. */
  #upstreamSocket: net.Socket | null = null;
  readonly #progress: DialProgress = { connected: false, secured: false };
  readonly #done: Promise<void>;
  #resolveDone!: () => void;

  constructor(options: UpgradeConnectionOptions) {
    this.#o = options;
    this.session = options.session;
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
    // http-proxy adds no error listener on the client socket until the 101: without this one a
    // client reset while the upgrade is pending is an uncaught 'error' that kills the process.
    // Registered before http-proxy's own (added at the 101), which answers a client error with
    // `end()` on the upstream socket, a FIN: a reset is passed on as a reset first.
    options.client.on('error', (error: Error & { code?: string }) => {
      if (this.#state !== 'upgraded') return;
      // A peer's reset is the end of its stream (`end.tcp`), not frametap's failure: no error event.
      if (error.code === 'ECONNRESET') {
        if (this.#tee) this.#tee.cut('server', true);
        else resetSocket(this.#upstreamSocket);
      }
    });
    options.client.once('close', () => {
      if (this.#state === 'pending') this.#clientLeftEarly();
    });
    if (options.gate) {
      // The gate reads each direction's decoded frames and messages as they come.
      const tap = (from: 'client' | 'server') => ({
        event: (e: import('../protocol/wire-events.js').WireEvent) => {
          const gate = this.#gate?.of(from);
          if (!gate) return;
          if (e.kind === 'frame') gate.frame(e);
          else if (e.kind === 'message') gate.message(e);
        },
        stopped: () => this.#gate?.of(from).inspectionStopped(),
      });
      this.session.gate({ client: tap('client'), server: tap('server') });
    }
  }

  /** What may act on the traffic changed (rules reloaded, a breakpoint): the gates re-check. */
  refreshGate(): void {
    this.#gate?.refresh();
  }

  /** The connection's gate (the dashboard's actions), null when none. */
  get gate(): ConnectionGate | null {
    return this.#gate;
  }

  /** Resolves once `end` is published. */
  get done(): Promise<void> {
    return this.#done;
  }

  get state(): State {
    return this.#state;
  }

  /** http-proxy's `proxyReqWs`: the request to the upstream exists, its head is not sent yet. */
  onProxyRequest(proxyReq: http.ClientRequest): void {
    this.#proxyReq = proxyReq;
    // http-proxy normalises the path (`/a//b` → `/a/b`, `\` → `/`): send it byte for byte.
    proxyReq.path = this.#o.path;
    for (const name of proxyReq.getHeaderNames()) proxyReq.removeHeader(name);
    const grouped = new Map<string, { name: string; values: string[] }>();
    for (const [name, value] of this.#o.forwarded) {
      const g = grouped.get(name.toLowerCase());
      if (g) g.values.push(value);
      else grouped.set(name.toLowerCase(), { name, values: [value] });
    }
    for (const { name, values } of grouped.values()) proxyReq.setHeader(name, values.length === 1 ? values[0]! : values);

    proxyReq.on('socket', (socket: net.Socket) => {
      // Client bytes after the server's FIN must still go through (half-close).
      socket.allowHalfOpen = true;
      socket.once('connect', () => (this.#progress.connected = true));
      // Only where it can fire: a listener left on a plain socket would keep this whole closure
      // context (the spent request with it) alive for the connection's lifetime.
      if (this.#o.upstream.tls) socket.once('secureConnect', () => (this.#progress.secured = true));
    });
    // http-proxy 1.18.1 applies no timeout to upgrades (`proxyTimeout` is web-only).
    this.#timer = setTimeout(() => {
      proxyReq.destroy(codedError(`upstream did not answer the upgrade within ${this.#o.timeoutMs} ms`, 'ETIMEDOUT'));
    }, this.#o.timeoutMs);
    proxyReq.once('upgrade', (res: http.IncomingMessage, socket: net.Socket) => this.#onUpstreamUpgrade(res, socket));
    // http-proxy adds its own 'response' listener right after this event, synchronously; it would
    // rebuild the refusal with lower-cased headers and a de-chunked body. No response can arrive
    // before the next microtask (it needs I/O), so swapping the listener then is safe.
    const onResponse = (res: http.IncomingMessage): void => this.#onRefusal(res);
    queueMicrotask(() => {
      for (const l of proxyReq.listeners('response')) if (l !== onResponse) proxyReq.removeListener('response', l as () => void);
      proxyReq.on('response', onResponse);
    });
  }

  #onUpstreamUpgrade(res: http.IncomingMessage, socket: net.Socket): void {
    this.#clearTimer();
    if (this.#state !== 'pending') {
      socket.destroy();
      return;
    }
    this.#state = 'upgraded';
    this.#upstreamSocket = socket;
    // The request is spent once upgraded; holding it would keep its Agent, headers and listeners
    // alive for the whole connection (~3 KiB per idle connection, bench/memory.ts).
    this.#proxyReq = null;
    this.#o.onUpgraded(socket);
    // http-proxy rebuilds the 101 from the parsed `headers`; the capture gets the raw list.
    this.session.handshake({
      request: this.#request(),
      ...(this.#o.changed ? { forwarded: this.#o.forwarded } : {}),
      response: { status: res.statusCode ?? 101, reason: res.statusMessage ?? '', httpVersion: res.httpVersion, headers: pairHeaders(res.rawHeaders) },
    });
  }

  /**
   * http-proxy's `open`: it has written the 101 and piped the sockets in the same tick, so no byte
   * has moved yet. Take the relay over from its pipes.
   */
  onOpen(upstreamSocket: net.Socket): void {
    const client = this.#o.client;
    upstreamSocket.unpipe(client);
    client.unpipe(upstreamSocket);
    const session = this.session;
    const tee = new Tee(client, upstreamSocket, {
      client: session.direction('client'),
      server: session.direction('server'),
      onClosed: () => this.#finish(false),
    });
    this.#tee = tee;
    const gate = this.#o.gate;
    if (gate) {
      const cgate = new ConnectionGate({
        policy: gate.setup.policy,
        deflate: session.deflate,
        holdTimeoutMs: gate.holdTimeoutMs,
        ...(gate.limits ? { limits: gate.limits } : {}),
        io: {
          write: (toward, parts) => {
            const from = toward === 'server' ? 'client' : 'server';
            tee.relayOf(from).write(parts);
            if (session.wantsChunks) session.wire(toward === 'server' ? 'upstream' : 'client', from, Buffer.concat(parts), preciseNow());
          },
          pause: (from, paused) => tee.relayOf(from).gatePause(paused),
          drained: (from) => tee.relayOf(from).endDestination(),
          cut: () => {
            tee.cut('client', true);
            tee.cut('server', true);
          },
          intercept: (e) => session.intercept(e, e.from),
          problem: (detail, from) => session.error('relay', new Error(detail), from),
        },
      });
      this.#gate = cgate;
      tee.relayOf('client').setGate(cgate.client);
      tee.relayOf('server').setGate(cgate.server);
      const cut = gate.setup.faults?.cutAfter(gate.setup.policy.context) ?? null;
      if (cut) cgate.cutAfter(cut.ms, cut.actor);
    }
    tee.start();
    if (this.#o.throttled()) this.#tee.throttle(true);
  }

  #onRefusal(res: http.IncomingMessage): void {
    this.#clearTimer();
    if (this.#state !== 'pending') {
      res.resume();
      return;
    }
    this.#state = 'refused';
    this.session.handshake({
      request: this.#request(),
      ...(this.#o.changed ? { forwarded: this.#o.forwarded } : {}),
      response: { status: res.statusCode ?? 0, reason: res.statusMessage ?? '', httpVersion: res.httpVersion, headers: pairHeaders(res.rawHeaders) },
    });
    relayRefusal(res, this.#o.client, () => {
      this.#proxyReq?.destroy();
      this.#finish(false);
    });
  }

  /**
   * http-proxy's error callback: before the 101 the dial failed (answer 502, never after a 101);
   * after it, an upstream socket error, which the tee sees as an abrupt close.
   */
  onProxyError(error: Error): void {
    this.#clearTimer();
    if (this.#state === 'upgraded') {
      // http-proxy calls `end()` on the client right after this callback, a FIN: pass a reset on
      // as a reset before that happens.
      // The upstream's reset is the end of its stream (`end.tcp`), not frametap's failure.
      if ((error as { code?: string }).code === 'ECONNRESET') {
        if (this.#tee) this.#tee.cut('client', true);
        else resetSocket(this.#o.client);
      }
      return;
    }
    if (this.#state !== 'pending') return;
    this.#state = 'failed';
    const stage = failureStage(this.#o.upstream, this.#progress);
    this.session.handshake({ request: this.#request(), ...(this.#o.changed ? { forwarded: this.#o.forwarded } : {}), response: null });
    this.session.error(stage, error);
    writeBadGateway(this.#o.client, `upstream ${this.#o.upstream.url.host} failed (${stage}): ${error.message}`);
    this.#finish(false);
  }

  /** Proxy shutdown: both TCP connections closed now, `end` with `shutdown: true`. */
  shutdown(): Promise<void> {
    if (this.#state === 'pending') {
      this.#state = 'closed';
      this.#clearTimer();
      this.session.handshake({ request: this.#request(), ...(this.#o.changed ? { forwarded: this.#o.forwarded } : {}), response: null });
    }
    this.#finish(true);
    this.#proxyReq?.destroy();
    this.#tee?.destroy();
    this.#o.client.destroy();
    this.#upstreamSocket?.destroy();
    return this.#done;
  }

  throttle(paused: boolean): void {
    this.#tee?.throttle(paused);
  }

  #clientLeftEarly(): void {
    this.#state = 'closed';
    this.#clearTimer();
    this.session.handshake({ request: this.#request(), ...(this.#o.changed ? { forwarded: this.#o.forwarded } : {}), response: null });
    this.#proxyReq?.destroy();
    this.#finish(false);
  }

  #finish(shutdown: boolean): void {
    this.#gate?.dispose();
    if (this.session.finished) return;
    void this.session.finish({ shutdown }).then(this.#resolveDone);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #request() {
    const req = this.#o.req;
    return { method: req.method ?? 'GET', target: req.url ?? '/', httpVersion: req.httpVersion, headers: pairHeaders(req.rawHeaders) };
  }
}

function resetSocket(socket: net.Socket | null): void {
  if (socket && !socket.destroyed) socket.resetAndDestroy();
}
