/**
 * A small relay for tests of packet captures: it relays a real TCP connection between a real
 * client and a real upstream and drives a `Session` with the bytes as the proxy does (the heads
 * through `Session.wire`, the relayed chunks through `push`, which publishes them as `chunk`
 * events of both legs), but can re-chunk what it relays (`chunking`: pieces of N bytes) so every
 * segmentation of the wire can be recorded.
 */
import net from 'node:net';
import type { EventBus } from '../../src/session/event-bus.js';
import type { Leg, Side, TcpEnd } from '../../src/session/events.js';
import { preciseNow, Session } from '../../src/session/session.js';
import { headEnd, parseRequestHead, parseResponseHead } from '../../src/pcap/http-head.js';

export interface RecordingRelay {
  readonly port: number;
  /** Resolves when every connection so far has published its `end`. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface RecordingRelayOptions {
  readonly upstreamPort: number;
  readonly bus: EventBus;
  /** Piece size for the relayed bytes of connection `conn` (null: as read). */
  readonly chunking?: (conn: number) => number | null;
  readonly maxPayload?: number;
  readonly firstConn?: number;
}

export async function startRecordingRelay(options: RecordingRelayOptions): Promise<RecordingRelay> {
  let next = options.firstConn ?? 1;
  const ends: Promise<void>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const conn = next++;
    const piece = options.chunking?.(conn) ?? null;
    const tcp: { client: TcpEnd | null; server: TcpEnd | null } = { client: null, server: null };
    const session = new Session({ conn, bus: options.bus, maxPayload: options.maxPayload ?? 1024 * 1024 });
    const upstream = net.connect({ port: options.upstreamPort, host: '127.0.0.1', allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    const chunk = (leg: Leg, from: Side, bytes: Buffer, t: number): void => session.wire(leg, from, bytes, t);
    let requestHead: Buffer | null = null;
    let reqBuf = Buffer.alloc(0);
    let resBuf = Buffer.alloc(0);
    let upgraded = false;
    let done: () => void = () => {};
    ends.push(new Promise<void>((resolve) => (done = resolve)));

    const relay = (from: Side, bytes: Buffer, t: number): void => {
      const dst = from === 'client' ? upstream : client;
      const size = piece ?? bytes.length;
      for (let at = 0; at < bytes.length; at += size) {
        const p = bytes.subarray(at, Math.min(bytes.length, at + size));
        if (!dst.destroyed) dst.write(p);
        session.push(from, p, t);
      }
    };

    client.on('data', (data: Buffer) => {
      const t = preciseNow();
      if (requestHead === null) {
        reqBuf = Buffer.concat([reqBuf, data]);
        const end = headEnd(reqBuf);
        if (end < 0) return;
        requestHead = reqBuf.subarray(0, end);
        const request = parseRequestHead(requestHead)!;
        session.open(`${client.remoteAddress}:${client.remotePort}`, `ws://127.0.0.1:${options.upstreamPort}${request.target}`);
        chunk('client', 'client', requestHead, t);
        upstream.write(requestHead);
        chunk('upstream', 'client', requestHead, t);
        const rest = reqBuf.subarray(end);
        if (rest.length > 0) relay('client', rest, t);
        return;
      }
      relay('client', data, t);
    });
    upstream.on('data', (data: Buffer) => {
      const t = preciseNow();
      if (!upgraded) {
        resBuf = Buffer.concat([resBuf, data]);
        const end = headEnd(resBuf);
        if (end < 0) return;
        const head = resBuf.subarray(0, end);
        chunk('upstream', 'server', head, t);
        session.handshake({ request: parseRequestHead(requestHead!)!, response: parseResponseHead(head) });
        upgraded = session.upgraded;
        client.write(head);
        chunk('client', 'server', head, t);
        const rest = resBuf.subarray(end);
        upgraded = true;
        if (rest.length > 0) relay('server', rest, t);
        return;
      }
      relay('server', data, t);
    });
    const onEnd = (from: Side): void => {
      tcp[from] ??= 'fin';
      void session.endOf(from, preciseNow(), tcp[from]!);
      const dst = from === 'client' ? upstream : client;
      if (!dst.destroyed) dst.end();
    };
    client.on('end', () => onEnd('client'));
    upstream.on('end', () => onEnd('server'));
    const onError = (from: Side) => (error: NodeJS.ErrnoException): void => {
      tcp[from] ??= 'reset';
      const other: Side = from === 'client' ? 'server' : 'client';
      tcp[other] ??= 'cut';
      const t = preciseNow();
      void session.endOf(from, t, tcp[from]!);
      void session.endOf(other, t, tcp[other]!);
      const dst = from === 'client' ? upstream : client;
      if (error.code === 'ECONNRESET') dst.resetAndDestroy();
      else dst.destroy();
    };
    client.on('error', onError('client'));
    upstream.on('error', onError('server'));
    let closed = 0;
    const onClose = (): void => {
      if (++closed < 2) return;
      sockets.delete(client);
      sockets.delete(upstream);
      void session.finish().then(done);
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    idle: async () => {
      let n = -1;
      while (n !== ends.length) {
        n = ends.length;
        await Promise.all(ends);
      }
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
