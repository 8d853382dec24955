/**
 * The client's upgrade request head exactly as it arrived (for packet captures: a leg's chunks
 * are its whole byte stream). Node's HTTP server reads a connection's socket natively, bypassing
 * `data` events; a `data` listener makes it read through JS instead (its socket listener wrapper
 * "unconsumes" the parser), and one prepended in the server's `connection` event runs before the
 * parser sees each chunk. Only the last bytes read are kept: a head is at most `maxHeaderSize`.
 */
import type http from 'node:http';
import type net from 'node:net';
import { requestHeadStart } from './http-heads.js';

export class ClientHeadTap {
  readonly #socket: net.Socket;
  /** Keeps at least this many of the last bytes read (and the chunk that crossed the mark). */
  readonly #keep: number;
  #chunks: Buffer[] = [];
  #length = 0;

  constructor(socket: net.Socket, maxHeaderSize: number) {
    this.#socket = socket;
    // Twice the limit: room for the request line and for empty lines before it.
    this.#keep = 2 * maxHeaderSize;
    socket.prependListener('data', this.#onData);
  }

  /** Bytes held right now (bounded by twice maxHeaderSize plus the last chunk). */
  get kept(): number {
    return this.#length;
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    while (this.#chunks.length > 1 && this.#length - this.#chunks[0]!.length >= this.#keep) this.#length -= this.#chunks.shift()!.length;
  };

  /**
   * Called from the server's `upgrade` event (synchronously, inside the parse of the chunk that
   * completed the head, which this tap has already seen): the head's bytes, or null when they can
   * not be told apart. Stops tapping: from here on the connection's bytes are the tee's.
   */
  take(req: http.IncomingMessage, bodyHead: Buffer): Buffer | null {
    this.#socket.removeListener('data', this.#onData);
    const window = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = [];
    // Node hands over the rest of the chunk after the head as `bodyHead`.
    const end = window.length - bodyHead.length;
    const start = requestHeadStart(window, end, `${req.method} ${req.url} HTTP/${req.httpVersion}`);
    return start === null ? null : Buffer.from(window.subarray(start, end));
  }
}
