/**
 * `npm run bench -- inflate-wait`: the shared bound on concurrent inflates (src/protocol/
 * inflate-limiter.ts) under load. 40 permessage-deflate connections, each sending 200 compressible
 * text messages of 16 KiB as fast as the echo allows, through one in-process proxy. It reports how
 * many inflates waited for a slot and for how long, and how far behind the wire each `message`
 * event was published (event time minus the `t` of its last byte: the cost of wire order, which
 * holds a connection's later events while its own inflate waits).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { EventBus } from '../src/session/event-bus.js';
import { startProxy } from '../src/proxy/server.js';

const CONNECTIONS = 40;
const MESSAGES = 200;
const SIZE = 16 * 1024;

function text(seed: number): string {
  let x = seed;
  let s = '';
  while (s.length < SIZE) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += `word${x % 500} `;
  }
  return s.slice(0, SIZE);
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
}

export async function main(): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
  const bus = new EventBus();
  const lateness: number[] = [];
  bus.subscribe('lateness', (e) => {
    if (e.type === 'message' && e.compressed) lateness.push(performance.timeOrigin + performance.now() - e.t);
  }, ['message']);
  const proxy = await startProxy({
    upstream: new URL(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`),
    listen: { host: '127.0.0.1', port: 0 },
    bus,
    maxPayload: 1024 * 1024,
    insecure: false,
    keepHost: false,
    headers: [],
    redact: [],
  });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/c${c}`, { perMessageDeflate: { threshold: 0 } });
      await once(ws, 'open');
      let got = 0;
      const done = new Promise<void>((resolve) => ws.on('message', () => ++got === MESSAGES && resolve()));
      for (let i = 0; i < MESSAGES; i++) ws.send(text(c * 1000 + i));
      await done;
      ws.close();
      await once(ws, 'close');
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await proxy.stop();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  const s = proxy.inflateStats;
  process.stdout.write(
    `inflate-wait: ${CONNECTIONS} deflate connections × ${MESSAGES} echoed 16 KiB messages in ${seconds.toFixed(2)} s (${process.version})\n` +
      `| inflates | waited for a slot | mean wait | longest wait | most queued | message event lateness p50 / p99 / max |\n` +
      `| ${s.operations} | ${s.waited} | ${(s.waited ? s.waitMs / s.waited : 0).toFixed(2)} ms | ${s.maxWaitMs.toFixed(2)} ms | ${s.maxQueued} | ` +
      `${quantile(lateness, 0.5).toFixed(2)} / ${quantile(lateness, 0.99).toFixed(2)} / ${quantile(lateness, 1).toFixed(2)} ms |\n`,
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();
