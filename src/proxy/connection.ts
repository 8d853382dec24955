/**
 * One upgrade request through the proxy, from the client's `upgrade` to the last socket's close:
 * the dial, the upstream's answer (101, refusal or failure), then the tee.
 *
 * The relay promise includes the handshake (issue 11): the request goes upstream with the client's
 * request line and header lines in their order, case and duplicates (`http.request` with a raw
 * header array writes them as given), changed only as `forwarded` records; the upstream's answer
 * reaches the client as the exact bytes read from it, taken by a tap on the upstream socket that
 * runs before Node's parser (which only ever hands over trimmed, parsed headers). It owns the state
 * that decides what the client may still be told: a 502 only while pending.
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { HandshakeResponse, Leg, RawHeaders, Side } from '../session/events.js';
import { preciseNow, type Session } from '../session/session.js';
import { assert } from '../errors.js';
import { finalResponseHeadEnd } from './http-heads.js';
import { closeWhenFlushed, writeBadGateway, writeStatus } from './refusal.js';
import { Tee } from './tee.js';
import { codedError, failureStage, flatHeaders, pairHeaders, type DialProgress, type Upstream } from './upstream.js';
import { ConnectionGate } from '../gate/connection-gate.js';
import type { ConnectionSetup, ResponseHold } from '../gate/gate-setup.js';
import type { GateLimits } from '../gate/direction-gate.js';
import type { Actor } from '../gate/actions.js';

/** `held`: the upstream said 101 and a breakpoint holds it; the client has not heard it yet. */
type State = 'pending' | 'held' | 'upgraded' | 'refused' | 'failed' | 'closed';

/**
 * Bytes that crossed one TCP leg outside the tee (packet captures, capture-format `chunk`): `leg`
 * is the TCP connection, `from` the sender on it. Read-only; copy to keep.
 */
export type HandshakeBytesHook = (leg: Leg, from: Side, bytes: Buffer, t: number) => void;

/**
 * What the upstream may send before its final answer's head is complete: Node's parser allows
 * 16 KiB per head, this bounds a stream of interim 1xx responses (RFC 9110 §15.2) as well.
 */
const MAX_RESPONSE_HEADS = 64 * 1024;

/** What a client may send while its 101 is held before it is no longer read (it should send nothing: RFC 6455 §4.1). */
const MAX_HELD_CLIENT_BYTES = 64 * 1024;

export interface UpgradeConnectionOptions {
  readonly session: Session;
  readonly req: http.IncomingMessage;
  readonly client: net.Socket;
  /** Bytes the client sent after its request head, read with it (Node's `head`): relayed after the 101. */
  readonly head: Buffer;
  readonly upstream: Upstream;
  /** Path and query as sent upstream. */
  readonly path: string;
  /** Header list as sent upstream. */
  readonly forwarded: RawHeaders;
  /** Whether `forwarded` differs from what the client sent (the handshake event records it then). */
  readonly changed: boolean;
  /** How long the upstream may take to answer, refusal body included. */
  readonly timeoutMs: number;
  /** Verify the upstream's TLS certificate (false with --insecure). */
  readonly verifyTls: boolean;
  /** --max-payload: how much of a refusal's body the handshake event keeps. */
  readonly maxPayload: number;
  /** Whether every relayed socket is paused for capture backpressure right now. */
  readonly throttled: () => boolean;
  /** Rules, script, faults or breakpoints may act on this connection (issue 13); null: untouched relay. */
  readonly gate?: {
    readonly setup: ConnectionSetup;
    readonly holdTimeoutMs: number | null;
    readonly limits?: GateLimits;
    /** The gate is live (registered for the dashboard's commands) until the connection ends. */
    readonly register?: (gate: ConnectionGate | null) => void;
    /** Asked when the upstream's 101 arrives: a breakpoint's hold of it, or null to relay it at once. */
    readonly responseHold?: () => ResponseHold | null;
  } | null;
  /** The request head as the client sent it (server.ts taps it when someone wants `chunk` events). */
  readonly requestHead?: Buffer | null;
  /**
   * Every byte that crosses a leg outside the tee, when it crosses: the request head as received
   * (client leg) and as sent (upstream leg), the upstream's response head, interim 1xx heads
   * included, as read (upstream leg) and as relayed (client leg), a refusal's body the same way,
   * frametap's own 502, and on a failed or refused upgrade the client bytes that came with its
   * request. After a 101 the tee sees everything else, early client bytes and the upstream's
   * bytes that came with the 101 first. For a TLS upstream the upstream leg's bytes are those
   * inside TLS. `t` never goes back: bytes read before the connection's `open` are stamped at start().
   */
  readonly onHandshakeBytes?: HandshakeBytesHook;
  /**
   * More options for the upstream request, applied last (forward mode: its TLS trust as a
   * `secureContext`, no SNI for an IP, an `agent` handing over a socket dialed through
   * --upstream-proxy or logging TLS keys).
   */
  readonly dialOptions?: https.RequestOptions;
  /**
   * Called once `end` is published (as `done` resolves). A shared function, not a promise
   * reaction per connection: the proxy forgets the connection here.
   */
  readonly onDone?: (connection: UpgradeConnection) => void;
}

export class UpgradeConnection {
  readonly session: Session;
  readonly #client: net.Socket;
  /**
   * What the handshake needs (the request, header lists, the dial's options and hooks): dropped
   * once upgraded, so an idle connection keeps none of it (bench/memory.ts).
   */
  #handshake: Omit<UpgradeConnectionOptions, 'head' | 'requestHead'> | null;
  /** The dashboard's registration of this connection's gate, null without a gate. */
  readonly #register: ((gate: ConnectionGate | null) => void) | null;
  readonly #onDone: ((connection: UpgradeConnection) => void) | null;
  /** Reported once at start(), then dropped. */
  #requestHead: Buffer | null;
  #state: State = 'pending';
  #request: http.ClientRequest | null = null;
  #timer: NodeJS.Timeout | null = null;
  #tee: Tee | null = null;
  #gate: ConnectionGate | null = null;
  #upstreamSocket: net.Socket | null = null;
  /** What the upstream sent until its final head was parsed; null once taken. */
  #read: Buffer[] | null = [];
  #readLength = 0;
  #readT = 0;
  #refusal: { readonly response: HandshakeResponse; body: Buffer[]; kept: number; truncated: boolean; done: boolean } | null = null;
  #shuttingDown = false;
  /** Ends the hold of a held 101 (a peer left). */
  #heldCancel: (() => void) | null = null;
  /** Stops reading the client while its 101 is held; what it sent becomes its early bytes. */
  #unwatchHeldClient: (() => void) | null = null;
  /**
   * Client bytes read with the request head, and when; dropped once used: Node's `head` is a view
   * of the whole chunk it came in, which an idle connection must not keep alive.
   */
  #earlyClientBytes: Buffer | null;
  readonly #progress: DialProgress = { connected: false, secured: false };
  /** Made when first asked for (the proxy is told through `onDone`). */
  #done: Promise<void> | null = null;
  #resolveDone: (() => void) | null = null;
  #ended = false;
  #clientOnClose: (() => void) | null;

  constructor(options: UpgradeConnectionOptions) {
    const { head, requestHead, ...rest } = options;
    this.#handshake = rest;
    this.session = options.session;
    this.#client = options.client;
    this.#register = options.gate?.register ?? null;
    this.#onDone = options.onDone ?? null;
    this.#requestHead = requestHead ?? null;
    this.#earlyClientBytes = head.length > 0 ? head : null;
    // Without a listener a client reset while the upgrade is pending is an uncaught 'error' that
    // kills the process (this is the client's listener from here on: the servers drop theirs).
    // A peer's reset is the end of its stream (`end.tcp`), not frametap's failure: no error
    // event; after the 101 it is passed on as a reset, the upstream side `cut`.
    options.client.on('error', (error: Error & { code?: string }) => {
      if (this.#state === 'upgraded' && error.code === 'ECONNRESET') this.#tee?.cut('server', true);
    });
    // Until the upgrade (the tee watches the client from then on). `close` comes once: `on`
    // spares the `once` wrapper.
    this.#clientOnClose = () => {
      if (this.#state === 'pending') this.#clientLeftEarly();
      else if (this.#state === 'held') this.#heldLeft('client');
      else if (this.#state === 'refused') this.#endRefusal('cut');
    };
    options.client.on('close', this.#clientOnClose);
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
    this.#done ??= this.#ended ? Promise.resolve() : new Promise((resolve) => (this.#resolveDone = resolve));
    return this.#done;
  }

  /** The options of the handshake, which only the handshake's steps ask for. */
  get #o(): Omit<UpgradeConnectionOptions, 'head' | 'requestHead'> {
    assert(this.#handshake !== null, `conn ${this.session.conn}: the handshake's options asked for after the upgrade`);
    return this.#handshake!;
  }

  get state(): State {
    return this.#state;
  }

  /** Dials the upstream and sends the request. */
  start(): void {
    const o = this.#o;
    // Stamped now, not when read: a connection's events (its `open` included) never go back in time.
    if (this.#requestHead) this.#report('client', 'client', this.#requestHead, preciseNow());
    this.#requestHead = null;
    let request: http.ClientRequest;
    try {
      const tls = o.upstream.servername !== null ? { servername: o.upstream.servername } : {};
      request = (o.upstream.tls ? https : http).request({
        host: o.upstream.target.hostname,
        port: o.upstream.target.port,
        method: o.req.method,
        // Byte for byte after the URL prefix (http-proxy normalised `/a//b` to `/a/b`).
        path: o.path,
        // An array is written as given: order, case and duplicates kept.
        headers: flatHeaders(o.forwarded),
        setHost: false,
        agent: false,
        ...(o.upstream.tls ? { rejectUnauthorized: o.verifyTls, ...tls } : {}),
        ...o.dialOptions,
      });
    } catch (error) {
      // A header Node will not write (its checks differ from its parser's): nothing was sent.
      this.#dialFailed(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#request = request;
    request.on('socket', (socket: net.Socket) => this.#requestOnSocket(socket));
    request.once('upgrade', (res: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.#onUpgrade(res, socket, head));
    request.once('response', (res: http.IncomingMessage) => this.#onRefusal(res));
    request.on('error', (error: Error) => this.#onRequestError(error));
    this.#timer = setTimeout(() => {
      request.destroy(codedError(`upstream did not answer the upgrade within ${o.timeoutMs} ms`, 'ETIMEDOUT'));
    }, o.timeoutMs);
    request.end();
  }

  #requestOnSocket(socket: net.Socket): void {
    this.#upstreamSocket = socket;
    // Client bytes after the server's FIN must still go through (half-close).
    socket.allowHalfOpen = true;
    // Before Node's parser: the response head exactly as it came. Removed once the answer is in.
    this.#upstreamOnData = (chunk: Buffer) => this.#upstreamRead(chunk);
    socket.prependListener('data', this.#upstreamOnData);
    const sent = (): void => {
      // The head Node wrote (and will flush now): what crossed the upstream leg.
      const head = (this.#request as { _header?: unknown } | null)?._header;
      if (typeof head === 'string') this.#report('upstream', 'client', Buffer.from(head, 'latin1'), preciseNow());
    };
    socket.once('connect', () => {
      this.#progress.connected = true;
      if (!this.#o.upstream.tls) sent();
    });
    // Only where it can fire: a listener left on a plain socket would keep this whole closure
    // context (the spent request with it) alive for the connection's lifetime.
    if (this.#o.upstream.tls)
      socket.once('secureConnect', () => {
        this.#progress.secured = true;
        sent();
      });
  }

  #upstreamOnData: ((chunk: Buffer) => void) | null = null;

  #upstreamRead(chunk: Buffer): void {
    const t = preciseNow();
    if (this.#state === 'pending') {
      this.#read?.push(chunk);
      this.#readLength += chunk.length;
      this.#readT = t;
      // Failed here, before Node's parser sees the chunk: whatever it then emits finds the state settled.
      if (this.#readLength > MAX_RESPONSE_HEADS)
        this.#dialFailed(codedError(`upstream sent more than ${MAX_RESPONSE_HEADS} bytes without a final response head`, 'HPE_HEADER_OVERFLOW'));
      return;
    }
    if (this.#state === 'refused') this.#relayRefusal(chunk, t);
  }

  #stopReadingUpstream(socket: net.Socket | null): void {
    if (this.#upstreamOnData) socket?.removeListener('data', this.#upstreamOnData);
    this.#upstreamOnData = null;
  }

  #takeRead(): Buffer {
    const chunks = this.#read ?? [];
    this.#read = null;
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  #onUpgrade(res: http.IncomingMessage, socket: net.Socket, upstreamHead: Buffer): void {
    this.#clearTimer();
    this.#stopReadingUpstream(socket);
    if (this.#state !== 'pending') {
      socket.destroy();
      return;
    }
    this.#upstreamSocket = socket;
    // The request is spent once upgraded; holding it would keep its headers and listeners alive
    // for the whole connection (bench/memory.ts).
    this.#request = null;
    // Node's parser took the head from the last chunk read and hands over the rest.
    const read = this.#takeRead();
    const head = read.subarray(0, read.length - upstreamHead.length);
    this.#report('upstream', 'server', head, this.#readT);
    const hold = this.#o.gate?.responseHold?.() ?? null;
    if (hold === null) return this.#relayUpgrade(res, socket, head, upstreamHead);
    // A `101` breakpoint: nothing goes either way until a person decides (the upstream's first
    // frames wait in its socket, unread, with the 101's leftover bytes).
    this.#state = 'held';
    socket.pause();
    const upstreamGone = (): void => this.#heldLeft('server');
    // A reset while held must not be an uncaught 'error'; its 'close' says it all.
    const ignore = (): void => {};
    socket.on('error', ignore);
    socket.once('close', upstreamGone);
    this.#heldCancel = hold.cancel;
    this.#watchHeldClient();
    void hold.hold((g) => this.session.intercept(g, g.from)).then((refusal) => {
      socket.off('close', upstreamGone);
      this.#heldCancel = null;
      if (this.#state !== 'held') return;
      this.#unwatchHeldClient?.();
      if (refusal === null) {
        socket.off('error', ignore);
        socket.resume();
        return this.#relayUpgrade(res, socket, head, upstreamHead);
      }
      this.#refuseHeld(res, refusal);
    });
  }

  /** The upstream's 101 goes to the client as read, then the tee (and the gate) take over. */
  #relayUpgrade(res: http.IncomingMessage, socket: net.Socket, head: Buffer, upstreamHead: Buffer): void {
    this.#state = 'upgraded';
    this.session.handshake({ ...this.#handshakeRequest(), response: responseOf(res) });
    const client = this.#client;
    client.write(head);
    this.#report('client', 'server', head, preciseNow());
    // What came with the heads is the first chunk of each direction, relayed and inspected by the tee.
    if (upstreamHead.length > 0) socket.unshift(upstreamHead);
    if (this.#earlyClientBytes) client.unshift(this.#earlyClientBytes);
    this.#earlyClientBytes = null;
    for (const s of [client, socket]) {
      s.setTimeout(0);
      s.setNoDelay(true);
      s.setKeepAlive(true);
    }
    // What the client's leaving means is the tee's from here on.
    if (this.#clientOnClose) client.off('close', this.#clientOnClose);
    this.#clientOnClose = null;
    const session = this.session;
    const tee = new Tee(client, socket, {
      client: session.direction('client'),
      server: session.direction('server'),
      // Bound, not an arrow property (which tsx names: a property dictionary per connection).
      onClosed: this.#finish.bind(this),
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
      gate.register?.(cgate);
      const failed = (from: 'client' | 'server') => (error: unknown): void => {
        session.error('relay', new Error(`the gate of the ${from}'s messages failed (${(error as Error)?.message ?? String(error)}): connection cut`), from);
        cgate.dispose();
        tee.cut('client', true);
        tee.cut('server', true);
      };
      tee.relayOf('client').setGate(cgate.client, failed('client'));
      tee.relayOf('server').setGate(cgate.server, failed('server'));
      const cut = gate.setup.faults?.cutAfter(gate.setup.policy.context) ?? null;
      if (cut) cgate.cutAfter(cut.ms, cut.actor);
    }
    tee.start();
    if (this.#o.throttled()) this.#tee.throttle(true);
    // Nothing of the handshake is asked for from here on.
    this.#handshake = null;
  }

  /**
   * Any status but 101: relayed as read (head, then body bytes as they come, chunked framing and
   * all), the body kept up to --max-payload for the handshake event, published once the response
   * is complete (or cut). The client connection is ended then: it was reserved for a WebSocket.
   */
  #onRefusal(res: http.IncomingMessage): void {
    if (this.#state !== 'pending') {
      res.resume();
      return;
    }
    if (res.statusCode === 101) {
      // Node hands a 101 over as an upgrade only with `Upgrade` and `Connection: upgrade`; without
      // them it has parsed what follows as HTTP, so there is no byte stream left to relay.
      this.#dialFailed(codedError('upstream answered 101 without "Upgrade" and "Connection: upgrade" headers (RFC 6455 §4.2.2)', 'EPROTO'));
      return;
    }
    this.#state = 'refused';
    this.#refusal = { response: responseOf(res), body: [], kept: 0, truncated: false, done: false };
    this.#reportEarlyClientBytes();
    const read = this.#takeRead();
    const headEnd = finalResponseHeadEnd(read) ?? read.length;
    this.#relayRefusal(read, this.#readT, headEnd);
    res.on('data', () => {});
    res.once('end', () => this.#endRefusal('complete'));
    res.once('close', () => this.#endRefusal(res.complete ? 'complete' : 'cut'));
  }

  #relayRefusal(bytes: Buffer, t: number, bodyStart = 0): void {
    const refusal = this.#refusal!;
    if (refusal.done) return;
    this.#report('upstream', 'server', bytes, t);
    const client = this.#client;
    if (!client.destroyed) {
      client.write(bytes);
      this.#report('client', 'server', bytes, preciseNow());
    }
    const body = bytes.subarray(bodyStart);
    const room = this.#o.maxPayload - refusal.kept;
    if (body.length > room) refusal.truncated = true;
    const kept = body.subarray(0, Math.max(0, room));
    if (kept.length > 0) {
      refusal.body.push(Buffer.from(kept));
      refusal.kept += kept.length;
    }
  }

  /** `complete`: the response ended as framed (or by the upstream's FIN); `cut`: it did not. */
  #endRefusal(how: 'complete' | 'cut'): void {
    const refusal = this.#refusal;
    if (!refusal || refusal.done) return;
    refusal.done = true;
    this.#clearTimer();
    this.#stopReadingUpstream(this.#upstreamSocket);
    const body = Buffer.concat(refusal.body);
    this.session.handshake({
      ...this.#handshakeRequest(),
      response: { ...refusal.response, ...(body.length > 0 || refusal.truncated ? { body } : {}), ...(refusal.truncated ? { bodyTruncated: true } : {}) },
    });
    const client = this.#client;
    if (how === 'complete' && !client.destroyed) {
      client.end();
      closeWhenFlushed(client);
    } else {
      client.destroy();
    }
    this.#request?.destroy();
    this.#request = null;
    this.#finish();
  }

  #onRequestError(error: Error): void {
    this.#clearTimer();
    if (this.#state === 'refused') {
      // A refusal whose body stalled past the timeout or broke off.
      if (!this.#refusal!.done) this.session.error('handshake', error);
      this.#endRefusal('cut');
      return;
    }
    if (this.#state !== 'pending') return;
    this.#dialFailed(error);
  }

  /** Before any answer: a 502 (RFC 9110 §15.6.3), never after one. */
  #dialFailed(error: Error): void {
    this.#state = 'failed';
    this.#clearTimer();
    const stage = failureStage(this.#o.upstream, this.#progress);
    this.session.handshake({ ...this.#handshakeRequest(), response: null });
    this.session.error(stage, error);
    this.#reportEarlyClientBytes();
    const written = writeBadGateway(this.#client, `upstream ${this.#o.upstream.url.host} failed (${stage}): ${error.message}`);
    if (written) this.#report('client', 'server', written, preciseNow());
    this.#request?.destroy();
    this.#request = null;
    this.#finish();
  }

  /** Proxy shutdown: both TCP connections closed now, `end` with `shutdown: true`. */
  shutdown(): Promise<void> {
    this.#shuttingDown = true;
    if (this.#state === 'pending') {
      this.#state = 'closed';
      this.#clearTimer();
      this.session.handshake({ ...this.#handshakeRequest(), response: null });
    } else if (this.#state === 'refused') {
      this.#endRefusal('cut');
    } else if (this.#state === 'held') {
      this.#heldLeft('client');
    }
    this.#finish();
    this.#request?.destroy();
    this.#tee?.destroy();
    this.#client.destroy();
    this.#upstreamSocket?.destroy();
    return this.done;
  }

  throttle(paused: boolean): void {
    this.#tee?.throttle(paused);
  }

  /**
   * `d` on a held 101: the client gets frametap's refusal (its `handshake` event's response is
   * frametap's own, as for `refuse`), the upstream's connection is closed; the 101 the upstream
   * sent is in the `chunk` events and the `hold` intercept.
   */
  #refuseHeld(res: http.IncomingMessage, refusal: { status: number; body: string; actor: Actor }): void {
    this.#state = 'closed';
    const reason = http.STATUS_CODES[refusal.status] ?? 'Refused';
    this.session.handshake({
      ...this.#handshakeRequest(),
      response: {
        status: refusal.status,
        reason,
        httpVersion: '1.1',
        headers: [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(Buffer.byteLength(refusal.body))], ['Connection', 'close']],
        byFrametap: true,
      },
    });
    this.session.intercept(
      { from: 'server', action: 'refuse', by: refusal.actor.by, ...(refusal.actor.name ? { name: refusal.actor.name } : {}), detail: `${refusal.status} ${reason} instead of the upstream's ${res.statusCode ?? 101}` },
      'server',
    );
    this.#reportEarlyClientBytes();
    const written = writeStatus(this.#client, refusal.status, reason, refusal.body);
    if (written) this.#report('client', 'server', written, preciseNow());
    this.#upstreamSocket?.end();
    this.#upstreamSocket?.destroySoon();
    this.#finish();
  }

  /**
   * While the 101 is held the client's socket is read, or its leaving (a FIN) would go unseen:
   * what it sends meanwhile is kept with its early bytes (relayed after the 101), up to a bound
   * past which it is paused (TCP backpressure).
   */
  #watchHeldClient(): void {
    const client = this.#client;
    const kept: Buffer[] = this.#earlyClientBytes ? [this.#earlyClientBytes] : [];
    let length = this.#earlyClientBytes?.length ?? 0;
    const onData = (chunk: Buffer): void => {
      kept.push(chunk);
      length += chunk.length;
      if (length >= MAX_HELD_CLIENT_BYTES) client.pause();
    };
    const onEnd = (): void => this.#heldLeft('client');
    client.on('data', onData);
    client.once('end', onEnd);
    this.#unwatchHeldClient = () => {
      this.#unwatchHeldClient = null;
      client.off('data', onData);
      client.off('end', onEnd);
      client.pause();
      this.#earlyClientBytes = kept.length === 0 ? null : kept.length === 1 ? kept[0]! : Buffer.concat(kept, length);
    };
  }

  /** A peer left while its 101 was held: the upgrade never happened for the client. */
  #heldLeft(who: Side): void {
    if (this.#state !== 'held') return;
    this.#state = 'closed';
    this.#unwatchHeldClient?.();
    const cancel = this.#heldCancel;
    this.#heldCancel = null;
    cancel?.();
    this.session.handshake({ ...this.#handshakeRequest(), response: null });
    this.#reportEarlyClientBytes();
    if (who === 'server') {
      this.session.error('handshake', new Error('the upstream closed its connection while its 101 was held at a breakpoint'));
      const written = writeBadGateway(this.#client, `upstream ${this.#o.upstream.url.host} closed while its 101 was held`);
      if (written) this.#report('client', 'server', written, preciseNow());
    } else {
      this.#upstreamSocket?.destroy();
    }
    this.#finish();
  }

  #clientLeftEarly(): void {
    this.#state = 'closed';
    this.#clearTimer();
    this.session.handshake({ ...this.#handshakeRequest(), response: null });
    this.#reportEarlyClientBytes();
    this.#request?.destroy();
    this.#request = null;
    this.#finish();
  }

  /** Client bytes read with the request head that no tee will relay: they crossed the client leg only. */
  #reportEarlyClientBytes(): void {
    if (this.#earlyClientBytes) this.#report('client', 'client', this.#earlyClientBytes, preciseNow());
    this.#earlyClientBytes = null;
  }

  #report(leg: Leg, from: Side, bytes: Buffer, t: number): void {
    if (bytes.length > 0) this.#handshake?.onHandshakeBytes?.(leg, from, bytes, t);
  }

  #finish(): void {
    if (this.#gate) {
      this.#gate.dispose();
      this.#register?.(null);
    }
    if (this.session.finished) return;
    void this.session.finish({ shutdown: this.#shuttingDown }).then(() => {
      this.#ended = true;
      this.#resolveDone?.();
      this.#onDone?.(this);
    });
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #handshakeRequest() {
    const req = this.#o.req;
    return {
      request: { method: req.method ?? 'GET', target: req.url ?? '/', httpVersion: req.httpVersion, headers: pairHeaders(req.rawHeaders) },
      ...(this.#o.changed ? { forwarded: this.#o.forwarded } : {}),
    };
  }
}

function responseOf(res: http.IncomingMessage): HandshakeResponse {
  return { status: res.statusCode ?? 0, reason: res.statusMessage ?? '', httpVersion: res.httpVersion, headers: pairHeaders(res.rawHeaders) };
}
