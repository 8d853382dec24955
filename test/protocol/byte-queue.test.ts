import { describe, expect, it } from 'vitest';
import { ByteQueue } from '../../src/protocol/byte-queue.js';

function queueOf(...parts: string[]): ByteQueue {
  const q = new ByteQueue();
  for (const p of parts) q.push(Buffer.from(p));
  return q;
}

describe('ByteQueue', () => {
  it('reads bytes across chunks', () => {
    const q = queueOf('ab', '', 'cde');
    expect(q.length).toBe(5);
    expect(String.fromCharCode(q.byteAt(0), q.byteAt(2), q.byteAt(4))).toBe('ace');
  });

  it('consume returns a view inside one chunk and a copy across chunks', () => {
    const first = Buffer.from('hello');
    const q = new ByteQueue();
    q.push(first);
    q.push(Buffer.from('world'));
    const view = q.consume(3);
    expect(view.toString()).toBe('hel');
    expect(view.buffer).toBe(first.buffer);
    const spanning = q.consume(4);
    expect(spanning.toString()).toBe('lowo');
    expect(q.length).toBe(3);
    expect(q.consume(3).toString()).toBe('rld');
    expect(q.length).toBe(0);
  });

  it('consumeUpTo stops at the chunk boundary; skip and copyOut consume', () => {
    const q = queueOf('abc', 'defg');
    expect(q.consumeUpTo(10).toString()).toBe('abc');
    q.skip(1);
    const out = Buffer.alloc(4, 0x2e);
    q.copyOut(out, 1, 2);
    expect(out.toString()).toBe('.ef.');
    expect(q.length).toBe(1);
    q.clear();
    expect(q.length).toBe(0);
    expect(q.consumeUpTo(1).length).toBe(0);
  });

  it('never writes to the chunks it was given', () => {
    const chunk = Buffer.from('0123456789');
    const before = Buffer.from(chunk);
    const q = new ByteQueue();
    q.push(chunk);
    q.skip(2);
    q.consume(3);
    q.copyOut(Buffer.alloc(5), 0, 5);
    expect(chunk.equals(before)).toBe(true);
  });
});
