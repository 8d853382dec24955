/**
 * The demo's embedded upstream: a `ws` server on 127.0.0.1:0 with permessage-deflate, whose paths
 * each show something the dashboard can display. It misbehaves on purpose on one path, writing a
 * raw frame straight to the socket, so the demo shows protocol violations too.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface DemoUpstream {
  /** `ws://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Paths:
 * - `/chat`: acks JSON chat messages, pings every second, sends a binary blob and a large
 *   (compressed) JSON snapshot now and then.
 * - `/misbehave`: after a few messages, a raw text frame with RSV2 set (RFC 6455 §5.2: "MUST be 0
 *   unless an extension is negotiated that defines meanings for non-zero values").
 * - `/going-away`: the server closes with 1001 Going Away.
 * - `/expire`: the server closes with 4001 (private use, RFC 6455 §7.4.2).
 * - anything else: echo.
 */
export async function startDemoUpstream(): Promise<DemoUpstream> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    // Negotiated on every connection; which messages are compressed is chosen per send.
    perMessageDeflate: { threshold: 0 },
    handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const timers = new Set<NodeJS.Timeout>();
  const every = (ws: WebSocket, ms: number, fn: () => void): void => {
    const timer = setInterval(() => {
      if (ws.readyState === ws.OPEN) fn();
    }, ms);
    timers.add(timer);
    ws.once('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  };
  const after = (ws: WebSocket, ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (ws.readyState === ws.OPEN) fn();
    }, ms);
    timers.add(timer);
    ws.once('close', () => {
      clearTimeout(timer);
      timers.delete(timer);
    });
  };

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    ws.on('error', () => {});
    const path = (req.url ?? '/').split('?')[0];
    let seq = 0;
    switch (path) {
      case '/chat':
        ws.on('message', (data, isBinary) => {
          if (isBinary) return;
          let parsed: unknown = null;
          try {
            parsed = JSON.parse(String(data));
          } catch {
            return;
          }
          const id = (parsed as { id?: unknown }).id;
          ws.send(JSON.stringify({ type: 'ack', id, at: Date.now() }), { compress: false });
        });
        every(ws, 1000, () => ws.ping(Buffer.from(`hb-${++seq}`)));
        every(ws, 1700, () => ws.send(randomBytes(48 + Math.floor(Math.random() * 64)), { binary: true, compress: false }));
        every(ws, 2300, () => ws.send(JSON.stringify(snapshot(seq)), { compress: true }));
        break;
      case '/misbehave':
        ws.on('message', (data) => ws.send(String(data), { compress: false }));
        after(ws, 1200, () => writeRaw(ws, rsv2Frame('this frame sets RSV2')));
        break;
      case '/going-away':
        ws.on('message', (data) => ws.send(String(data)));
        after(ws, 2500, () => ws.close(1001, 'server restarting'));
        break;
      case '/expire':
        every(ws, 400, () => ws.send(JSON.stringify({ type: 'tick', n: ++seq })));
        after(ws, 3000, () => ws.close(4001, 'session expired'));
        break;
      default:
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    }
  });

  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** A large, repetitive JSON document: compresses well under permessage-deflate. */
function snapshot(seq: number): object {
  const users = Array.from({ length: 24 }, (_, i) => ({ id: i + 1, name: `user-${i + 1}`, online: (i + seq) % 3 !== 0, room: 'lobby' }));
  return { type: 'presence', seq, users };
}

/** An unmasked server text frame with RSV2 set: FIN=1, RSV2=1, opcode 0x1 (RFC 6455 §5.2). */
function rsv2Frame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([0x80 | 0x20 | 0x01, payload.length]), payload]);
}

function writeRaw(ws: WebSocket, bytes: Buffer): void {
  // `ws` keeps the socket private; writing a whole frame to it directly is how ws's own tests inject bad frames.
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  socket?.write(bytes);
}
