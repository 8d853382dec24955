/**
 * The byte relay of an upgraded connection: each direction is its own loop (read a chunk, write it
 * to the other socket untouched, pause on a full write buffer and resume on drain, then hand the
 * same chunk, read-only, to that direction's inspector). Nothing here waits for the inspector
 * (STYLE.md §5).
 */
import { resetOrDestroy } from './reset.js';
import type net from 'node:net';
import type { Side, TcpEnd } from '../session/events.js';
import { preciseNow, type DirectionSink } from '../session/session.js';
import type { DirectionGate } from '../gate/direction-gate.js';

type SocketError = Error & { code?: string };

export interface TeeOptions {
  /** What each direction's relay hands its bytes to (the session's inspector of that direction). */
  readonly client: DirectionSink;
  readonly server: DirectionSink;
  /** Both sockets are closed. */
  readonly onClosed: () => void;
}

/** One direction: `src` → `dst`, and the inspector of what `src` sends. */
export class DirectionRelay {
  readonly #src: net.Socket;
  readonly #dst: net.Socket;
  readonly #sink: DirectionSink;
  #awaitingDrain = false;
  #throttled = false;
  /** The gate holds as much as its bound allows (issue 13): stop reading until it has room. */
  #gatePaused = false;
  #ended = false;
  /** Sits between decoding and forwarding when something may act on this direction. */
  #gate: DirectionGate | null = null;
  /** frametap closed the source first (shutdown, or passing on the other side's abrupt end). */
  cutByUs = false;

  constructor(src: net.Socket, dst: net.Socket, sink: DirectionSink) {
    this.#src = src;
    this.#dst = dst;
    this.#sink = sink;
  }

  start(): void {
    // Listeners are never removed: anonymous arrows made here share one small scope (class-field
    // arrows would each be a named function, and tsx's keepNames gives every named function its
    // own property dictionary: about 300 bytes per listener per connection, bench/memory.ts).
    this.#src.on('data', (chunk: Buffer) => this.#srcOnData(chunk));
    this.#src.on('end', () => this.#srcOnEnd());
    this.#dst.on('drain', () => this.#dstOnDrain());
    this.#updateFlow();
  }

  /**
   * The destination closed (the tee's `close` listener calls this). A closed destination never
   * drains: stop waiting for it, or a source paused on it would never read its own FIN and the
   * connection would never end (bench/soak.ts found this: an upstream that sent FIN, then reset
   * while the client was held back).
   */
  destinationClosed(): void {
    this.#dstOnDrain();
  }

  get ended(): boolean {
    return this.#ended;
  }

  throttle(paused: boolean): void {
    this.#throttled = paused;
    this.#updateFlow();
  }

  /** Puts a gate on this direction (before any byte moved); `onFailure` gets a gate's own bug. */
  setGate(gate: DirectionGate, onFailure: (error: unknown) => void): void {
    this.#gate = gate;
    this.#onGateFailure = onFailure;
  }

  #onGateFailure: ((error: unknown) => void) | null = null;

  /** The gate's backpressure: its bound is full (true) or has room again. */
  gatePause(paused: boolean): void {
    this.#gatePaused = paused;
    this.#updateFlow();
  }

  /** What the gate sends toward the receiver: original frames, or frames frametap made. */
  write(parts: readonly Buffer[]): void {
    if (this.#batching) {
      // Unchanged frames are consecutive views of the chunk they came in: joined back into one view,
      // a chunk of unchanged messages leaves as one write, as it would without a gate.
      const batch = (this.#batch ??= []);
      for (const p of parts) {
        if (p.length === 0) continue;
        const last = batch.length > 0 ? batch[batch.length - 1]! : null;
        if (last !== null && last.buffer === p.buffer && last.byteOffset + last.length === p.byteOffset) {
          batch[batch.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + p.length);
        } else batch.push(p);
      }
      return;
    }
    this.#writeNow(parts);
  }

  #batching = false;
  /** Made by the first gated write. */
  #batch: Buffer[] | null = null;

  #writeNow(parts: readonly Buffer[]): void {
    const dst = this.#dst;
    if (dst.destroyed || dst.writableEnded) return;
    const cork = parts.length > 1;
    if (cork) dst.cork();
    let full = false;
    for (const part of parts) if (!dst.write(part)) full = true;
    if (cork) dst.uncork();
    if (full) {
      this.#awaitingDrain = true;
      this.#updateFlow();
    }
  }

  /** The gate wrote everything of an ended stream: pass the half-close on. */
  endDestination(): void {
    const batch = this.#batch;
    if (batch !== null && batch.length > 0) {
      this.#batch = [];
      this.#writeNow(batch);
    }
    if (!this.#dst.destroyed) this.#dst.end();
  }

  /** The read side ended without a FIN (reset, destroy): report once. */
  abort(t: number, how: TcpEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    void this.#sink.end(t, how);
  }

  #srcOnData(chunk: Buffer): void {
    const t = preciseNow();
    const gate = this.#gate;
    if (gate !== null) {
      // The gate decides what goes out (the chunk as it is while nothing applies). Corked: the
      // messages one chunk completes leave in one write (writev), not one syscall each.
      this.#batching = true;
      try {
        gate.push(chunk, (c) => this.#sink.data(c, t));
      } catch (error) {
        // Our bug, never the peer's: what the gate kept is lost, so the connection cannot go on
        // byte-exact. Reported, and the connection is cut; other connections are untouched.
        this.#gate = null;
        this.#onGateFailure?.(error);
      } finally {
        // What this chunk completed leaves in one write (writev for several parts).
        this.#batching = false;
        const batch = this.#batch;
        if (batch !== null && batch.length > 0) {
          this.#batch = [];
          this.#writeNow(batch);
        }
      }
      return;
    }
    this.#forward(chunk);
    this.#sink.data(chunk, t);
  }

  /** Without a gate every chunk goes on as it is, before anyone looks at it. */
  #forward(chunk: Buffer): void {
    if (this.#dst.destroyed) return;
    if (!this.#dst.write(chunk)) {
      this.#awaitingDrain = true;
      this.#updateFlow();
    }
  }

  #dstOnDrain(): void {
    this.#awaitingDrain = false;
    this.#updateFlow();
  }

  #srcOnEnd(): void {
    const gate = this.#gate;
    // Half-close is relayed as a half-close: the other direction keeps flowing (RFC 9293 §3.6).
    // Behind a gate, once what it keeps has gone out (its `drained` ends the destination).
    if (gate === null && !this.#dst.destroyed) this.#dst.end();
    if (this.#ended) {
      gate?.end();
      return;
    }
    this.#ended = true;
    const ended = this.#sink.end(preciseNow(), 'fin');
    if (gate !== null) void ended.then(() => gate.end());
  }

  #updateFlow(): void {
    if (this.#awaitingDrain || this.#throttled || this.#gatePaused) this.#src.pause();
    else this.#src.resume();
  }
}

/**
 * Relays `client` ↔ `upstream` until both are closed. An abrupt close of one side (error, reset)
 * is passed on as an abrupt close of the other: a reset as a reset.
 */
export class Tee {
  readonly #client: net.Socket;
  readonly #upstream: net.Socket;
  readonly #up: DirectionRelay;
  readonly #down: DirectionRelay;
  readonly #onClosed: () => void;
  #open = 2;
  /** The last error each socket reported (a reset is passed on as a reset). */
  #clientFailure: SocketError | null = null;
  #upstreamFailure: SocketError | null = null;

  constructor(client: net.Socket, upstream: net.Socket, options: TeeOptions) {
    this.#client = client;
    this.#upstream = upstream;
    this.#onClosed = options.onClosed;
    this.#up = new DirectionRelay(client, upstream, options.client);
    this.#down = new DirectionRelay(upstream, client, options.server);
  }

  start(): void {
    // Anonymous arrows sharing this one scope (see DirectionRelay.start); `close` comes once. One
    // `close` listener per socket for both of its roles: an event's third listener costs its
    // socket an array of ~20 slots.
    const client = this.#client;
    const upstream = this.#upstream;
    client.on('error', (error: SocketError) => (this.#clientFailure = error));
    upstream.on('error', (error: SocketError) => (this.#upstreamFailure = error));
    if (client.closed) queueMicrotask(() => this.#closed('client'));
    else client.on('close', () => this.#closed('client'));
    if (upstream.closed) queueMicrotask(() => this.#closed('server'));
    else upstream.on('close', () => this.#closed('server'));
    this.#up.start();
    this.#down.start();
  }

  throttle(paused: boolean): void {
    this.#up.throttle(paused);
    this.#down.throttle(paused);
  }

  /** The relay of what `from` sends (for its gate). */
  relayOf(from: Side): DirectionRelay {
    return from === 'client' ? this.#up : this.#down;
  }

  /** Close both TCP connections now (proxy shutdown). */
  destroy(): void {
    this.#up.cutByUs = this.#down.cutByUs = true;
    this.#client.destroy();
    this.#upstream.destroy();
  }

  /**
   * frametap closes `side`'s TCP connection (passing the other side's reset on, or a cut): that
   * side's stream then ended as `cut` (capture-format `end.tcp`), not as the peer's doing.
   */
  cut(side: Side, reset: boolean): void {
    const socket = side === 'client' ? this.#client : this.#upstream;
    if (socket.destroyed) return;
    (side === 'client' ? this.#up : this.#down).cutByUs = true;
    if (reset) resetOrDestroy(socket);
    else socket.destroy();
  }

  /**
   * The socket `from` sends on closed: the end of that direction, and of the other socket; the
   * other direction stops waiting to write to it.
   */
  #closed(from: Side): void {
    this.#closedSource(from);
    this.relayOf(from === 'client' ? 'server' : 'client').destinationClosed();
  }

  #closedSource(from: Side): void {
    const reading = this.relayOf(from);
    if (!reading.ended) {
      const other = from === 'client' ? this.#upstream : this.#client;
      const failure = from === 'client' ? this.#clientFailure : this.#upstreamFailure;
      // capture-format `end.tcp`: a close without FIN is the peer's reset (or another abrupt
      // error), unless frametap closed this side first.
      reading.abort(preciseNow(), reading.cutByUs ? 'cut' : 'reset');
      if (!other.destroyed) {
        this.relayOf(from === 'client' ? 'server' : 'client').cutByUs = true;
        if (failure?.code === 'ECONNRESET') resetOrDestroy(other);
        else other.destroy();
      }
    }
    if (--this.#open === 0) this.#onClosed();
  }
}
