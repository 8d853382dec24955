/**
 * The byte relay of an upgraded connection: each direction is its own loop (read a chunk, write it
 * to the other socket untouched, pause on a full write buffer and resume on drain, then hand the
 * same chunk, read-only, to the inspector). Nothing here waits for the inspector (STYLE.md §5).
 */
import type net from 'node:net';
import type { Side } from '../session/events.js';
import { preciseNow } from '../session/session.js';

export interface TeeHooks {
  /** A chunk `from` sent, already written on. Must not mutate it (it may still be queued). */
  readonly onChunk: (from: Side, chunk: Buffer, t: number) => void;
  /** `from`'s byte stream is over (FIN or an abrupt close). */
  readonly onStreamEnd: (from: Side, t: number) => void;
  /** Both sockets are closed. */
  readonly onClosed: () => void;
}

/** One direction: `src` → `dst`. */
class DirectionRelay {
  readonly #src: net.Socket;
  readonly #dst: net.Socket;
  readonly #from: Side;
  readonly #hooks: TeeHooks;
  #awaitingDrain = false;
  #throttled = false;
  #ended = false;

  constructor(src: net.Socket, dst: net.Socket, from: Side, hooks: TeeHooks) {
    this.#src = src;
    this.#dst = dst;
    this.#from = from;
    this.#hooks = hooks;
  }

  start(): void {
    this.#src.on('data', this.#srcOnData);
    this.#src.on('end', this.#srcOnEnd);
    this.#dst.on('drain', this.#dstOnDrain);
    // A closed destination never drains: stop waiting for it, or a source paused on it would never
    // read its own FIN and the connection would never end (bench/soak.ts found this: an upstream
    // that sent FIN, then reset while the client was held back). Same handler: no extra closure per
    // connection.
    this.#dst.once('close', this.#dstOnDrain);
    this.#updateFlow();
  }

  get ended(): boolean {
    return this.#ended;
  }

  throttle(paused: boolean): void {
    this.#throttled = paused;
    this.#updateFlow();
  }

  /** The read side ended without a FIN (reset, destroy): report once. */
  abort(t: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#hooks.onStreamEnd(this.#from, t);
  }

  readonly #srcOnData = (chunk: Buffer): void => {
    const t = preciseNow();
    this.#forward(chunk);
    this.#hooks.onChunk(this.#from, chunk, t);
  };

  /**
   * Every chunk of this direction passes here, before anyone looks at it: the one place where a
   * frame-level gate (hold, drop, rewrite) could later sit. Today it relays the bytes as they are.
   */
  #forward(chunk: Buffer): void {
    if (this.#dst.destroyed) return;
    if (!this.#dst.write(chunk)) {
      this.#awaitingDrain = true;
      this.#updateFlow();
    }
  }

  readonly #dstOnDrain = (): void => {
    this.#awaitingDrain = false;
    this.#updateFlow();
  };

  readonly #srcOnEnd = (): void => {
    // Half-close is relayed as a half-close: the other direction keeps flowing (RFC 9293 §3.6).
    if (!this.#dst.destroyed) this.#dst.end();
    if (this.#ended) return;
    this.#ended = true;
    this.#hooks.onStreamEnd(this.#from, preciseNow());
  };

  #updateFlow(): void {
    if (this.#awaitingDrain || this.#throttled) this.#src.pause();
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
  readonly #hooks: TeeHooks;
  #open = 2;

  constructor(client: net.Socket, upstream: net.Socket, hooks: TeeHooks) {
    this.#client = client;
    this.#upstream = upstream;
    this.#hooks = hooks;
    this.#up = new DirectionRelay(client, upstream, 'client', hooks);
    this.#down = new DirectionRelay(upstream, client, 'server', hooks);
  }

  start(): void {
    this.#watch(this.#client, this.#up, this.#upstream);
    this.#watch(this.#upstream, this.#down, this.#client);
    this.#up.start();
    this.#down.start();
  }

  throttle(paused: boolean): void {
    this.#up.throttle(paused);
    this.#down.throttle(paused);
  }

  /** Close both TCP connections now (proxy shutdown). */
  destroy(): void {
    this.#client.destroy();
    this.#upstream.destroy();
  }

  #watch(socket: net.Socket, reading: DirectionRelay, other: net.Socket): void {
    let failure: (Error & { code?: string }) | null = null;
    socket.on('error', (error: Error & { code?: string }) => {
      failure = error;
    });
    const onClose = (): void => {
      if (!reading.ended) {
        reading.abort(preciseNow());
        if (!other.destroyed) {
          if (failure?.code === 'ECONNRESET') other.resetAndDestroy();
          else other.destroy();
        }
      }
      if (--this.#open === 0) this.#hooks.onClosed();
    };
    if (socket.closed) queueMicrotask(onClose);
    else socket.once('close', onClose);
  }
}
