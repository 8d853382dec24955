/**
 * permessage-deflate (RFC 7692) through the proxy between real `ws` peers: frames are shown as
 * carried (compressed, RSV1), messages inflated, for each negotiation the spec allows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PerMessageDeflateOptions } from 'ws';
import { connectClient, startEchoServer, type EchoServer, type TappedClient } from '../helpers/servers.js';
import { startHarness, type Harness } from './harness.js';
import type { HandshakeEvent } from '../../src/session/events.js';
import type { CapturedFrame, CapturedMessage } from '../../src/capture/capture-object.js';


let echo: EchoServer | undefined;
let h: Harness | undefined;
let client: TappedClient | undefined;

afterEach(async () => {
  client?.ws.terminate();
  await h?.proxy.stop();
  await echo?.close();
  client = h = echo = undefined;
});

async function setUp(server: PerMessageDeflateOptions, offer: PerMessageDeflateOptions = { threshold: 0 }) {
  echo = await startEchoServer({ perMessageDeflate: { threshold: 0, ...server } });
  h = await startHarness(echo.url);
  client = await connectClient(h.wsUrl, { perMessageDeflate: offer });
  return { echo, h, c: client };
}

async function finish(h: Harness, echo: EchoServer, c: TappedClient): Promise<void> {
  c.ws.close(1000);
  await c.closed;
  await h.event('end');
  const server = echo.taps[0]!;
  expect(server.receivedAfterUpgrade.equals(c.tap().sentAfterUpgrade)).toBe(true);
  expect(c.tap().receivedAfterUpgrade.equals(server.sentAfterUpgrade)).toBe(true);
  expect(h.events.filter((e) => e.type === 'violation')).toEqual([]);
}

const messages = (h: Harness, from: 'client' | 'server'): CapturedMessage[] =>
  h.events.filter((e): e is CapturedMessage => e.type === 'message' && e.from === from);
const dataFrames = (h: Harness, from: 'client' | 'server'): CapturedFrame[] =>
  h.events.filter((e): e is CapturedFrame => e.type === 'frame' && e.from === from && e.opcode < 8);

describe('permessage-deflate through the proxy', () => {
  it('inflates messages with context takeover (the second message refers back to the first)', async () => {
    const { echo, h, c } = await setUp({});
    const text = 'the same words again and again, the same words again and again';
    for (let i = 0; i < 3; i++) {
      c.ws.send(text);
      await c.message(i);
    }
    await finish(h, echo, c);
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs.extensions.map((e) => e.name)).toEqual(['permessage-deflate']);
    for (const from of ['client', 'server'] as const) {
      expect(messages(h, from).map((m) => [m.text, m.compressed, m.length])).toEqual([
        [text, true, text.length],
        [text, true, text.length],
        [text, true, text.length],
      ]);
      const frames = dataFrames(h, from);
      expect(frames.every((f) => f.rsv1 && f.payload !== undefined)).toBe(true);
      // With the context kept, the repeated message compresses to fewer bytes than the first.
      expect(frames[1]!.length).toBeLessThan(frames[0]!.length);
    }
  });

  it('inflates with server_no_context_takeover and client_max_window_bits negotiated', async () => {
    const { echo, h, c } = await setUp({ serverNoContextTakeover: true, clientMaxWindowBits: 10 }, { threshold: 0, clientMaxWindowBits: 15 });
    const text = 'x'.repeat(3000) + 'tail';
    c.ws.send(text);
    await c.message(0);
    c.ws.send(text);
    await c.message(1);
    await finish(h, echo, c);
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs.extensions).toEqual([
      { name: 'permessage-deflate', params: { server_no_context_takeover: true, client_max_window_bits: '10' } },
    ]);
    expect(messages(h, 'server').map((m) => m.text)).toEqual([text, text]);
    expect(messages(h, 'client').map((m) => m.text)).toEqual([text, text]);
    const serverFrames = dataFrames(h, 'server');
    // No context takeover: the server compresses each message afresh, to the same bytes.
    expect(serverFrames[1]!.payload).toBe(serverFrames[0]!.payload);
  });

  it('inflates a fragmented compressed message and passes an uncompressed one in the same session', async () => {
    const { echo, h, c } = await setUp({});
    const parts = ['first part, ', 'second part, ', 'third part'];
    parts.forEach((p, i) => c.ws.send(p, { fin: i === parts.length - 1, compress: true }));
    await c.message(0);
    c.ws.send(Buffer.from([1, 2, 3, 4]), { binary: true, compress: false });
    await c.message(1);
    await finish(h, echo, c);
    const [fragmented, plain] = messages(h, 'client');
    expect(fragmented).toMatchObject({ opcode: 1, compressed: true, frames: 3, text: parts.join(''), length: parts.join('').length });
    expect(plain).toMatchObject({ opcode: 2, compressed: false, frames: 1, data: Buffer.from([1, 2, 3, 4]).toString('base64') });
    const frames = dataFrames(h, 'client');
    expect(frames.map((f) => [f.opcode, f.fin, f.rsv1])).toEqual([
      [1, false, true],
      [0, false, false],
      [0, true, false],
      [2, true, false],
    ]);
    // Compressed fragments keep their (compressed) payload; the uncompressed whole message leaves it to the message.
    expect(frames.slice(0, 3).every((f) => f.payload !== undefined)).toBe(true);
    expect(frames[3]!.payload).toBeUndefined();
  });
});
