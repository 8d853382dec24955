/**
 * Real `ws` peers exchanging what a packet capture must show (text, binary, fragments, ping/pong,
 * permessage-deflate with context takeover, a violation, a close, a 1006 reset), recorded through
 * the recording relay onto a bus.
 */
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';

export interface ScenarioServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Echoes every message (same opcode); `violate` makes it send a frame with RSV2 set next. */
export async function startScenarioServer(): Promise<ScenarioServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'violate') {
        // RFC 6455 §5.2: RSV2 set with no extension defining it.
        const raw = (ws as unknown as { _socket: net.Socket })._socket;
        raw.write(encodeFrame({ opcode: 1, rsv2: true, payload: Buffer.from('bad') }));
        return;
      }
      ws.send(data, { binary: isBinary });
    });
  });
  return {
    port: (wss.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    }),
  };
}

function open(url: string, deflate: boolean): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: deflate ? { threshold: 0 } : false });
  ws.on('error', () => {});
  return withTimeout(new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  }), 'ws open');
}

function nextMessage(ws: WebSocket): Promise<Buffer> {
  return withTimeout(new Promise<Buffer>((resolve) => ws.once('message', (data) => resolve(data as Buffer))), 'echo');
}

/** Connection kind A: deflate with context takeover, text, binary, fragments, ping/pong, a clean close. */
export async function talkDeflate(port: number): Promise<void> {
  const ws = await open(`ws://127.0.0.1:${port}/chat?room=1`, true);
  for (const text of ['hello', 'hello hello hello', 'hello hello hello']) {
    const echo = nextMessage(ws);
    ws.send(text);
    await echo;
  }
  let echo = nextMessage(ws);
  ws.send(Buffer.from(Array.from({ length: 300 }, (_, i) => i & 255)));
  await echo;
  echo = nextMessage(ws);
  ws.send('frag-one ', { fin: false });
  ws.send('frag-two ', { fin: false });
  ws.send('frag-three', { fin: true });
  await echo;
  const pong = deferred<void>();
  ws.once('pong', () => pong.resolve());
  ws.ping(Buffer.from('are you there'));
  await withTimeout(pong.promise, 'pong');
  echo = nextMessage(ws);
  ws.send(Buffer.alloc(70000, 'x'));
  await echo;
  const closed = deferred<void>();
  ws.once('close', () => closed.resolve());
  ws.close(1000, 'bye');
  await withTimeout(closed.promise, 'close');
}

/** Kind B: no deflate; the server breaks a framing rule, the client closes with 1002. */
export async function talkViolation(port: number): Promise<void> {
  const ws = await open(`ws://127.0.0.1:${port}/v`, false);
  const echo = nextMessage(ws);
  ws.send('plain');
  await echo;
  const closed = deferred<void>();
  ws.once('close', () => closed.resolve());
  ws.send('violate');
  await withTimeout(closed.promise, 'close after violation');
}

/** Kind C: a message, then the client resets the TCP connection (a 1006 end). */
export async function talkReset(port: number): Promise<void> {
  const ws = await open(`ws://127.0.0.1:${port}/r`, false);
  const echo = nextMessage(ws);
  ws.send('before reset');
  await echo;
  const socket = (ws as unknown as { _socket: net.Socket })._socket;
  const closed = deferred<void>();
  ws.once('close', () => closed.resolve());
  socket.resetAndDestroy();
  await withTimeout(closed.promise, 'close after reset');
}
