/**
 * The hostile peers must themselves be right, or a hardening test could pass for the wrong reason:
 * their frames are checked against the `ws` library's own receiver, the zip bomb is inflated, and
 * the raw upstream completes a real handshake with a real `ws` client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import {
  Cleanup,
  SeededRandom,
  closeBody,
  deferred,
  frameFrom,
  malformedUpgrade,
  maxLengthHeader,
  rawFrame,
  startRawUpstream,
  tinyFrames,
  withTimeout,
  zipBomb,
} from '../helpers/hostile.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe('hostile helpers', () => {
  it('rawFrame writes the RFC 6455 §5.7 example frames byte for byte', () => {
    // RFC 6455 §5.7: 'A single-frame unmasked text message' and 'A single-frame masked text message'.
    expect(rawFrame({ opcode: 1, payload: Buffer.from('Hello') }).toString('hex')).toBe('810548656c6c6f');
    expect(rawFrame({ opcode: 1, payload: Buffer.from('Hello'), mask: Buffer.from('37fa213d', 'hex') }).toString('hex')).toBe(
      '818537fa213d7f9f4d5158',
    );
    // '256 bytes binary message in a single unmasked frame' and the 64 KiB one.
    expect(rawFrame({ opcode: 2, payload: Buffer.alloc(256) }).subarray(0, 4).toString('hex')).toBe('827e0100');
    expect(rawFrame({ opcode: 2, payload: Buffer.alloc(65536) }).subarray(0, 10).toString('hex')).toBe('827f0000000000010000');
    expect(maxLengthHeader('server').toString('hex')).toBe('827f7fffffffffffffff');
  });

  it('masks into a new buffer and leaves the payload untouched', () => {
    const payload = Buffer.from('untouched');
    const copy = Buffer.from(payload);
    frameFrom('client', { opcode: 1, payload });
    expect(payload.equals(copy)).toBe(true);
  });

  it('zipBomb inflates to exactly the size asked for', async () => {
    const size = 64 * 1024 * 1024;
    const bomb = await zipBomb(size);
    expect(bomb.length).toBeLessThan(size / 500);
    const inflater = zlib.createInflateRaw();
    let inflated = 0;
    inflater.on('data', (chunk: Buffer) => {
      inflated += chunk.length;
    });
    // RFC 7692 §7.2.2: the receiver appends 0x00 0x00 0xff 0xff before inflating.
    inflater.write(Buffer.concat([bomb, Buffer.from([0, 0, 0xff, 0xff])]));
    await new Promise<void>((resolve) => inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    inflater.close();
    expect(inflated).toBe(size);
  });

  it('the same seed gives the same bytes, another seed others', () => {
    expect(new SeededRandom(7).bytes(37).equals(new SeededRandom(7).bytes(37))).toBe(true);
    expect(new SeededRandom(7).bytes(37).equals(new SeededRandom(8).bytes(37))).toBe(false);
  });

  it('builds smuggling requests with the conflicting headers on the wire', () => {
    const raw = malformedUpgrade.duplicateContentLength('h', 'GET /x HTTP/1.1\r\n\r\n');
    expect(raw.match(/Content-Length/g)).toHaveLength(2);
    expect(malformedUpgrade.contentLengthAndChunked('h', 'x')).toMatch(/Transfer-Encoding: chunked\r\n/);
    expect(malformedUpgrade.missingKey('h')).not.toMatch(/Sec-WebSocket-Key/);
  });

  it('the raw upstream completes a handshake with a real ws client, which decodes its frames', async () => {
    const upstream = await startRawUpstream({
      withResponse: () =>
        Buffer.concat([
          tinyFrames('server', 3),
          frameFrom('server', { opcode: 8, payload: closeBody(1000, 'bye') }),
        ]),
    });
    cleanup.add(() => upstream.close());
    const client = new WebSocket(upstream.url);
    cleanup.add(() => client.terminate());
    const messages: string[] = [];
    const closed = deferred<number>();
    client.on('message', (data) => messages.push(String(data)));
    client.on('close', (code) => closed.resolve(code));
    client.on('error', () => undefined);
    expect(await withTimeout(closed.promise, 5000, 'close')).toBe(1000);
    expect(messages).toEqual(['a', 'a', 'a']);
    const conn = await upstream.nextConnection();
    // The ws client answered the close with a masked close frame of its own (RFC 6455 §5.5.1).
    await withTimeout(conn.closed, 5000, 'upstream socket close');
    const bytes = Buffer.concat(conn.received);
    expect(bytes[0]).toBe(0x88);
    expect(bytes[1]! & 0x80).toBe(0x80);
  });
});
