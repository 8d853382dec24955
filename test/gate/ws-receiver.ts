/**
 * ws's own Receiver (the parser a real `ws` peer runs) fed with bytes frametap wrote: what a
 * conforming peer makes of them. @types/ws does not declare it, so it is typed here.
 */
import * as ws from 'ws';
import type { Writable } from 'node:stream';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';

const SENTINEL = Buffer.from('frametap-test-sentinel');

interface ReceiverCtor {
  new (options: { isServer: boolean; extensions?: Record<string, unknown>; allowSynchronousEvents?: boolean }): Writable;
}
const Receiver = (ws as unknown as { Receiver: ReceiverCtor }).Receiver;

export type Received =
  | { readonly kind: 'message'; readonly binary: boolean; readonly data: Buffer }
  | { readonly kind: 'ping' | 'pong'; readonly data: Buffer }
  | { readonly kind: 'close'; readonly code: number; readonly reason: string }
  | { readonly kind: 'error'; readonly code: string; readonly message: string };

interface PerMessageDeflateCtor {
  new (options: { isServer: boolean }): { accept(offers: object[]): unknown };
}
const PerMessageDeflate = (ws as unknown as { PerMessageDeflate: PerMessageDeflateCtor }).PerMessageDeflate;

/** Parse `bytes` as the receiving side of `from`'s frames would; `deflate`: permessage-deflate negotiated (context takeover). */
export async function receive(bytes: Buffer, from: 'client' | 'server', deflate = false): Promise<Received[]> {
  let extensions: Record<string, unknown> | undefined;
  if (deflate) {
    const pmd = new PerMessageDeflate({ isServer: from === 'client' });
    pmd.accept([{}]);
    extensions = { 'permessage-deflate': pmd };
  }
  const out: Received[] = [];
  const receiver = new Receiver({ isServer: from === 'client', allowSynchronousEvents: true, ...(extensions ? { extensions } : {}) });
  receiver.on('message', (data: Buffer, binary: boolean) => out.push({ kind: 'message', binary, data: Buffer.from(data) }));
  receiver.on('ping', (data: Buffer) => out.push({ kind: 'ping', data: Buffer.from(data) }));
  receiver.on('pong', (data: Buffer) => out.push({ kind: 'pong', data: Buffer.from(data) }));
  receiver.on('conclude', (code: number, reason: Buffer) => out.push({ kind: 'close', code, reason: reason.toString() }));
  receiver.on('error', (e: Error & { code: string }) => out.push({ kind: 'error', code: e.code, message: e.message }));
  // Inflating is asynchronous and errors are emitted after the write returns: a sentinel ping after
  // the bytes says everything before it was parsed; an error or a close frame ends parsing early.
  const done = new Promise<void>((resolve) => {
    receiver.on('ping', (data: Buffer) => {
      if (data.equals(SENTINEL)) resolve();
    });
    receiver.on('error', () => resolve());
    receiver.on('conclude', () => setImmediate(resolve));
  });
  receiver.write(bytes);
  receiver.write(encodeFrame({ opcode: 0x9, payload: SENTINEL, mask: from === 'client' ? Buffer.from('00000000', 'hex') : null }));
  await done;
  // After a close frame ws stops reading: the sentinel written after it is not an error of the bytes.
  return out.filter((r) => !(r.kind === 'ping' && r.data.equals(SENTINEL)) && !(r.kind === 'error' && r.code === 'ERR_STREAM_WRITE_AFTER_END'));
}
