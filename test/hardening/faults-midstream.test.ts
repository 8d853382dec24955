/**
 * Issue 7, "Faults": a peer vanishes mid-stream (destroy, RST, half-close with a FIN). The other
 * side is closed or half-closed as TCP says, `end` is written exactly once with 1006 and the right
 * initiator, and no file descriptor is left behind.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Cleanup,
  closeBody,
  collectUntilClose,
  fdCount,
  frameFrom,
  ofType,
  rawUpgrade,
  startProxyUnderTest,
  startRawUpstream,
  waitFor,
  withTimeout,
  type ProxyUnderTest,
  type RawUpstream,
  type RawUpstreamOptions,
} from '../helpers/hostile.js';

const cleanup = new Cleanup();
let baselineFds = 0;
beforeEach(() => {
  baselineFds = fdCount();
});
afterEach(() => cleanup.run());

async function setup(options: RawUpstreamOptions = {}): Promise<{ pt: ProxyUnderTest; upstream: RawUpstream }> {
  const upstream = await startRawUpstream(options);
  cleanup.add(() => upstream.close());
  const pt = await startProxyUnderTest(upstream.url);
  cleanup.add(() => pt.stop());
  return { pt, upstream };
}

async function onlyEnd(pt: ProxyUnderTest) {
  const end = await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');
  expect(pt.ends.get(1)).toBe(1);
  expect(pt.proxy.openConnections).toBe(0);
  return end;
}

/** Everything but the proxy itself closed: the fd count must be back where it was (no leak). */
async function expectNoFdLeak(pt: ProxyUnderTest, upstream: RawUpstream): Promise<void> {
  await pt.stop();
  await upstream.close();
  await waitFor(() => fdCount() <= baselineFds, 5000, `fds back to ${baselineFds} (now ${fdCount()})`);
}

describe('a peer vanishes mid-stream', () => {
  it('the upstream is destroyed after a frame: the client is closed, one 1006 end, no fd leak', async () => {
    const { pt, upstream } = await setup({
      onUpgrade: (conn) => conn.socket.write(frameFrom('server', { opcode: 1, payload: Buffer.from('last words') }), () => conn.socket.destroy()),
    });
    const client = await rawUpgrade(pt.proxy.port);
    const got = await withTimeout(collectUntilClose(client.socket, client.response.rest), 5000, 'the client to be closed');
    expect(got.bytes.subarray(2).toString()).toBe('last words');
    const end = await onlyEnd(pt);
    expect(end).toMatchObject({ code: 1006, initiator: null, clean: false });
    expect(ofType(pt.events, 'message').map((m) => m.text)).toEqual(['last words']);
    await expectNoFdLeak(pt, upstream);
  });

  it('the upstream resets (RST): the client sees a reset too, one 1006 end', async () => {
    const frame = frameFrom('server', { opcode: 2, payload: Buffer.alloc(100) });
    const { pt, upstream } = await setup({ onUpgrade: (conn) => conn.socket.write(frame) });
    const client = await rawUpgrade(pt.proxy.port);
    const conn = await upstream.nextConnection();
    let got = client.response.rest.length;
    client.socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
    });
    const closed = collectUntilClose(client.socket);
    // Reset once the frame is through: Linux reports a reset that overtakes unread data as a plain EOF.
    await waitFor(() => got === frame.length, 5000, 'the frame at the client');
    conn.socket.resetAndDestroy();
    expect((await withTimeout(closed, 5000, 'the client to be closed')).errorCode).toBe('ECONNRESET');
    expect(await onlyEnd(pt)).toMatchObject({ code: 1006, initiator: null, clean: false });
    await expectNoFdLeak(pt, upstream);
  });

  it('the client resets mid-message: the upstream is reset too, an incomplete frame, one 1006 end', async () => {
    const { pt, upstream } = await setup();
    const client = await rawUpgrade(pt.proxy.port);
    const conn = await upstream.nextConnection();
    // Half a frame: 1000 declared, 8 sent (after an 8-byte header: 16-bit length, mask), then RST.
    const frame = frameFrom('client', { opcode: 2, payload: Buffer.alloc(1000) });
    client.socket.write(frame.subarray(0, 16));
    // Reset once the bytes are through: Linux reports a reset that overtakes unread data as a plain EOF.
    await waitFor(() => conn.receivedBytes() === 16, 5000, 'the partial frame upstream');
    client.socket.resetAndDestroy();
    await withTimeout(conn.closed, 5000, 'the upstream socket to close');
    expect(conn.errorCode()).toBe('ECONNRESET');
    expect(await onlyEnd(pt)).toMatchObject({ code: 1006, initiator: null, clean: false });
    expect(ofType(pt.events, 'frame')).toMatchObject([{ from: 'client', length: 1000, incomplete: true, received: 16 - 8 }]);
    await expectNoFdLeak(pt, upstream);
  });

  it('the client half-closes (FIN): the upstream sees the FIN and can still answer, then one end', async () => {
    const { pt, upstream } = await setup({ allowHalfOpen: true });
    const client = await rawUpgrade(pt.proxy.port, { allowHalfOpen: true });
    const conn = await upstream.nextConnection();
    const received = collectUntilClose(client.socket, client.response.rest);
    client.socket.end(frameFrom('client', { opcode: 1, payload: Buffer.from('then FIN') }));
    await waitFor(() => conn.ended(), 5000, 'the FIN at the upstream');
    expect(conn.socket.destroyed).toBe(false);
    // The other direction still flows after the client's FIN (RFC 9293 §3.6 half-close).
    conn.socket.end(frameFrom('server', { opcode: 1, payload: Buffer.from('after your FIN') }));
    const got = await withTimeout(received, 5000, 'the client to be closed');
    expect(got.ended).toBe(true);
    expect(got.bytes.subarray(2).toString()).toBe('after your FIN');
    expect(await onlyEnd(pt)).toMatchObject({ code: 1006, initiator: null, clean: false });
    expect(ofType(pt.events, 'message').map((m) => `${m.from}:${m.text}`)).toEqual(['client:then FIN', 'server:after your FIN']);
    await expectNoFdLeak(pt, upstream);
  });

  it('the upstream stops reading, sends FIN, then resets while the client is held back: the client is freed, one end', async () => {
    const { pt, upstream } = await setup({ allowHalfOpen: true, onUpgrade: (conn) => conn.socket.pause() });
    const client = await rawUpgrade(pt.proxy.port, { allowHalfOpen: true });
    const conn = await upstream.nextConnection();
    // The client writes until its writes stop draining: frametap has paused it, waiting for the
    // upstream (which reads nothing) to drain.
    const chunk = frameFrom('client', { opcode: 2, payload: Buffer.alloc(64 * 1024) });
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (client.socket.write(chunk));
        const stalled = setTimeout(resolve, 300);
        client.socket.once('drain', () => {
          clearTimeout(stalled);
          pump();
        });
      };
      pump();
    });
    const received = collectUntilClose(client.socket, client.response.rest);
    // Like a `ws` peer: answer the server's FIN with our own.
    client.socket.once('end', () => client.socket.end());
    conn.socket.end();
    await waitFor(() => client.socket.readableEnded, 5000, 'the FIN at the client');
    // Unread data makes this close a reset: frametap's pending writes to it fail (EPIPE/ECONNRESET).
    conn.socket.destroy();
    await withTimeout(received, 10_000, 'the client to be closed');
    expect(await onlyEnd(pt)).toMatchObject({ code: 1006, clean: false });
    await expectNoFdLeak(pt, upstream);
  });

  it('the upstream half-closes after its close frame: the client still gets through, a clean end initiated by the server', async () => {
    const { pt, upstream } = await setup({
      allowHalfOpen: true,
      onUpgrade: (conn) => conn.socket.end(frameFrom('server', { opcode: 8, payload: closeBody(1001, 'going away') })),
    });
    const client = await rawUpgrade(pt.proxy.port, { allowHalfOpen: true });
    const conn = await upstream.nextConnection();
    const received = collectUntilClose(client.socket, client.response.rest);
    await waitFor(() => client.socket.readableEnded || client.response.rest.length > 0, 5000, 'the close frame at the client');
    client.socket.end(frameFrom('client', { opcode: 8, payload: closeBody(1001) }));
    await withTimeout(received, 5000, 'the client to be closed');
    await withTimeout(conn.closed, 5000, 'the upstream to be closed');
    // The client's close frame arrived after the upstream's FIN.
    const fromClient = Buffer.concat(conn.received);
    expect(fromClient[0]).toBe(0x88);
    expect(await onlyEnd(pt)).toMatchObject({ code: 1001, reason: 'going away', initiator: 'server', clean: true });
    await expectNoFdLeak(pt, upstream);
  });
});
