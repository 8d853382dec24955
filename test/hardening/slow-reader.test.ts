/**
 * Issue 7, "Faults": a client that stops reading while the server sends a huge message. The
 * backpressure must reach the server (its writes stop draining after a bounded amount) instead of
 * frametap buffering the message; once the client reads again everything arrives, byte for byte,
 * and the decoder kept no more than --max-payload of it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  Cleanup,
  deferred,
  ofType,
  rawFrame,
  rawUpgrade,
  rssBytes,
  startProxyUnderTest,
  startRawUpstream,
  waitFor,
  withTimeout,
} from '../helpers/hostile.js';

const MIB = 1024 * 1024;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe('a stalled reader', () => {
  it('backpressure reaches the server, memory stays bounded, and everything arrives once reading resumes', async () => {
    const size = 256 * MIB;
    const piece = Buffer.alloc(MIB);
    for (let i = 0; i < piece.length; i++) piece[i] = i & 0xff;
    const header = rawFrame({ opcode: 2, declaredLength: size });
    let written = 0;
    let stalls = 0;
    const stalled = deferred<number>();
    const finished = deferred<void>();
    const upstream = await startRawUpstream({
      onUpgrade: (conn) => {
        const socket = conn.socket;
        socket.write(header);
        const pump = (): void => {
          while (written < size) {
            written += piece.length;
            if (!socket.write(piece)) {
              stalls++;
              socket.once('drain', pump);
              return;
            }
          }
          finished.resolve();
        };
        pump();
      },
    });
    cleanup.add(() => upstream.close());
    const pt = await startProxyUnderTest(upstream.url, { maxPayload: 64 * 1024 });
    cleanup.add(() => pt.stop());

    const rssBefore = rssBytes();
    const client = await rawUpgrade(pt.proxy.port);
    cleanup.socket(client.socket);
    // The client reads nothing: the upstream must be held back. Its writes stop draining once the
    // socket buffers along the way (and frametap's, which must be bounded) are full.
    let last = -1;
    const watch = setInterval(() => {
      if (written === last && stalls > 0) stalled.resolve(written);
      last = written;
    }, 250);
    cleanup.add(() => clearInterval(watch));
    const heldAt = await withTimeout(Promise.race([stalled.promise, finished.promise.then(() => size)]), 20_000, 'the upstream to stall');
    clearInterval(watch);
    expect(heldAt).toBeLessThan(64 * MIB);
    expect(rssBytes() - rssBefore).toBeLessThan(128 * MIB);

    // Reading again: all of it arrives, in order.
    const expected = createHash('sha256').update(header);
    for (let sent = 0; sent < size; sent += piece.length) expected.update(piece);
    const hash = createHash('sha256').update(client.response.rest);
    let got = client.response.rest.length;
    client.socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      got += chunk.length;
    });
    client.socket.resume();
    await waitFor(() => got >= header.length + size, 60_000, `the whole message (have ${got})`);
    expect(got).toBe(header.length + size);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));

    const message = await pt.waitForEvent((e) => e.type === 'message', 10_000, 'the message event');
    expect(message).toMatchObject({ from: 'server', opcode: 2, length: size, truncated: true });
    const frame = ofType(pt.events, 'frame')[0]!;
    expect(frame).toMatchObject({ length: size, truncated: true });
    expect(Buffer.from(frame.payload ?? '', 'base64').length).toBeLessThanOrEqual(64 * 1024);
    expect(message.type === 'message' && Buffer.from(message.data ?? '', 'base64').equals(piece.subarray(0, 64 * 1024))).toBe(true);
  });
});
