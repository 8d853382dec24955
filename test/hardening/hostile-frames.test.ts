/**
 * Issue 7, "Hostile peers": frames built to hurt (absurd declared lengths, a frame cut off by the
 * socket closing, 10^5 tiny frames in one chunk, a deflate bomb) go through the real proxy between
 * a raw client and a raw upstream. Relaying must be byte-identical, the events right, and memory bounded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  Cleanup,
  GIB,
  collectUntilClose,
  frameFrom,
  gibDeclaredFrame,
  maxLengthHeader,
  ofType,
  rawFrame,
  rawUpgrade,
  rssBytes,
  startProxyUnderTest,
  startRawUpstream,
  tinyFrames,
  waitFor,
  withTimeout,
  zipBomb,
  type ProxyUnderTest,
  type RawUpstreamOptions,
} from '../helpers/hostile.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function setup(upstreamOptions: RawUpstreamOptions = {}, maxPayload = 64 * 1024): Promise<{ pt: ProxyUnderTest; port: number }> {
  const upstream = await startRawUpstream(upstreamOptions);
  cleanup.add(() => upstream.close());
  const pt = await startProxyUnderTest(upstream.url, { maxPayload });
  cleanup.add(() => pt.stop());
  return { pt, port: pt.proxy.port };
}

describe('hostile frames through the proxy', () => {
  it('a 2^63−1 length header is length-too-large, inspection of that side stops, the relay and the other side go on', async () => {
    const trailing = Buffer.from('x'.repeat(4096));
    const hostile = Buffer.concat([maxLengthHeader('server'), trailing]);
    const { pt, port } = await setup({ onUpgrade: (conn) => conn.socket.write(hostile) });
    const client = await rawUpgrade(port);
    cleanup.socket(client.socket);
    expect(client.response.status).toBe(101);
    const received = collectUntilClose(client.socket, client.response.rest);

    const violation = await pt.waitForEvent(
      (e) => e.type === 'violation' && e.rule === 'length-too-large',
      5000,
      'the length-too-large violation',
    );
    expect(violation).toMatchObject({ from: 'server', code: 1009, offset: 0 });

    // The client side is still inspected.
    client.socket.write(frameFrom('client', { opcode: 1, payload: Buffer.from('still watched') }));
    await pt.waitForEvent((e) => e.type === 'message' && e.from === 'client' && e.text === 'still watched', 5000, 'the client message');

    client.socket.end();
    const { bytes } = await withTimeout(received, 5000, 'the client socket to close');
    expect(bytes.equals(hostile)).toBe(true);
    await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');
    // Nothing was decoded from the server after the bad header.
    expect(ofType(pt.events, 'frame').filter((f) => f.from === 'server')).toHaveLength(0);
    expect(ofType(pt.events, 'end')).toHaveLength(1);
  });

  it('1 GiB declared, then the socket closes: an incomplete frame and a 1006 end', async () => {
    const sent = 100_000;
    const { pt, port } = await setup({
      onUpgrade: (conn) => conn.socket.end(gibDeclaredFrame('server', sent)),
    });
    const client = await rawUpgrade(port);
    cleanup.socket(client.socket);
    const { bytes } = await withTimeout(collectUntilClose(client.socket, client.response.rest), 5000, 'close');
    expect(bytes.length).toBe(10 + sent);

    const end = await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');
    const frames = ofType(pt.events, 'frame');
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ from: 'server', opcode: 2, length: GIB, incomplete: true, received: sent, truncated: true });
    // What is kept is bounded by --max-payload, whatever was declared.
    expect(Buffer.from(frames[0]!.payload ?? '', 'base64').length).toBeLessThanOrEqual(64 * 1024);
    expect(end).toMatchObject({ code: 1006, initiator: null, clean: false });
  });

  it('the same from the client: 1 GiB declared, a few bytes, then a reset', async () => {
    const upstream = await startRawUpstream();
    cleanup.add(() => upstream.close());
    const pt = await startProxyUnderTest(upstream.url, { maxPayload: 64 * 1024 });
    cleanup.add(() => pt.stop());
    const client = await rawUpgrade(pt.proxy.port);
    const conn = await upstream.nextConnection();
    const bytes = gibDeclaredFrame('client', 5000);
    client.socket.write(bytes);
    // Reset once the bytes are through: Linux drops unread data a reset overtakes.
    await waitFor(() => conn.receivedBytes() === bytes.length, 5000, 'the bytes upstream');
    client.socket.resetAndDestroy();
    const end = await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');
    const frames = ofType(pt.events, 'frame');
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ from: 'client', length: GIB, incomplete: true, masked: true, received: 5000 });
    expect(end).toMatchObject({ code: 1006, clean: false });
  });

  for (const from of ['client', 'server'] as const) {
    it(`10^5 tiny frames from the ${from} in one chunk: every frame and message, in order, bytes intact`, async () => {
      const count = 100_000;
      const flood = tinyFrames(from, count);
      const { pt, port } = await setup({
        onUpgrade: (conn) => {
          if (from === 'server') conn.socket.write(flood);
        },
      });
      let messages = 0;
      let frames = 0;
      let wrong = 0;
      pt.bus.subscribe('count', (e) => {
        if (e.type === 'frame' && e.from === from) frames++;
        if (e.type === 'message' && e.from === from) {
          if (e.data.toString() !== 'a') wrong++;
          messages++;
        }
      });
      const client = await rawUpgrade(port);
      cleanup.socket(client.socket);
      if (from === 'client') client.socket.write(flood);
      let got = client.response.rest.length;
      client.socket.on('data', (chunk: Buffer) => {
        got += chunk.length;
      });
      client.socket.resume();
      await waitFor(() => messages >= count, 20_000, `${count} messages (have ${messages})`);
      expect(frames).toBe(count);
      expect(wrong).toBe(0);
      expect(ofType(pt.events, 'violation')).toHaveLength(0);
      if (from === 'server') {
        await waitFor(() => got >= flood.length, 5000, 'the flood at the client');
        expect(got).toBe(flood.length);
      }
    });
  }

  it('a deflate bomb inflating to 1 GiB: the true length, a bounded kept copy, bounded memory, relay intact', async () => {
    const bomb = await zipBomb(GIB);
    const frame = rawFrame({ opcode: 2, rsv1: true, payload: bomb });
    const { pt, port } = await setup({
      extensions: 'permessage-deflate',
      onUpgrade: (conn) => conn.socket.write(frame),
    });
    const rssBefore = rssBytes();
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes());
    }, 20);
    cleanup.add(() => clearInterval(sampler));
    const client = await rawUpgrade(port, { extensions: 'permessage-deflate; client_max_window_bits' });
    cleanup.socket(client.socket);
    expect(client.response.status).toBe(101);
    const hash = createHash('sha256');
    let got = 0;
    hash.update(client.response.rest);
    got += client.response.rest.length;
    client.socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      got += chunk.length;
    });
    client.socket.resume();

    const message = await pt.waitForEvent((e) => e.type === 'message' && e.from === 'server', 60_000, 'the inflated message');
    clearInterval(sampler);
    expect(message).toMatchObject({ opcode: 2, compressed: true, length: GIB, truncated: true, frames: 1 });
    expect(message.type === 'message' && Buffer.from(message.data ?? '', 'base64').length).toBeLessThanOrEqual(64 * 1024);
    expect(ofType(pt.events, 'violation')).toHaveLength(0);
    // A whole-message inflate would need 1 GiB; a streaming one needs its window and the kept copy.
    expect(peak - rssBefore).toBeLessThan(256 * 1024 * 1024);

    await waitFor(() => got >= frame.length, 5000, 'the bomb at the client');
    expect(got).toBe(frame.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(frame).digest('hex'));
  });
});
