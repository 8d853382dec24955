import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { SeededRandom, frameFrom, rawUpgrade, startProxyUnderTest, pool, withTimeout } from '../test/helpers/hostile.js';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
await new Promise<void>((r) => wss.once('listening', () => r()));
wss.on('connection', (ws) => { ws.on('error', () => undefined); ws.on('message', (d, b) => ws.send(d, { binary: b })); });
const up = `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function chatty(port: number, rng: SeededRandom, abrupt: boolean) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { perMessageDeflate: rng.int(2) === 0 });
  ws.on('error', () => undefined);
  const opened = await new Promise<boolean>((res) => { ws.once('open', () => res(true)); ws.once('close', () => res(false)); });
  if (!opened) return;
  const n = 1 + rng.int(20);
  for (let i = 0; i < n && ws.readyState === WebSocket.OPEN; i++) {
    const kind = rng.int(10);
    if (kind < 5) ws.send(`message ${i} `.repeat(1 + rng.int(200)));
    else if (kind < 8) ws.send(rng.bytes(rng.int(64 * 1024)));
    else if (kind < 9) ws.ping(rng.bytes(rng.int(125)));
    else { ws.send('part one, ', { fin: false }); ws.send('part two', { fin: true }); }
    await sleep(rng.int(Number(process.env.S ?? 20)));
  }
  if (abrupt) { ws.terminate(); return; }
  await withTimeout(new Promise<void>((res) => { ws.once('close', () => res()); ws.close(1000, 'bye'); }), 10000, 'close').catch(() => ws.terminate());
}
async function violator(port: number, rng: SeededRandom, which: number) {
  const client = await rawUpgrade(port).catch(() => null);
  if (!client) return;
  const bad = [
    frameFrom('client', { opcode: 1, rsv2: true, payload: Buffer.from('rsv2') }),
    frameFrom('server', { opcode: 1, payload: Buffer.from('unmasked client frame') }),
    frameFrom('client', { opcode: 9, payload: rng.bytes(126) }),
    frameFrom('client', { opcode: 3, payload: Buffer.from('reserved opcode') }),
  ][which]!;
  client.socket.resume(); client.socket.write(bad);
  await withTimeout(new Promise<void>((res) => client.socket.once('close', () => res())), 5000, 'x').catch(() => undefined);
  client.socket.destroy();
}
const kinds = process.argv.slice(2);
for (const kind of kinds) {
  const pt = await startProxyUnderTest(up, { keepEvents: true, capturePath: '/tmp/h6/leak.jsonl' });
  await pool(Number(process.env.N ?? 400), Number(process.env.C ?? 40), async (i) => {
    const rng = new SeededRandom(i);
    if (kind === 'polite') await chatty(pt.proxy.port, rng, false);
    else if (kind === 'abrupt') await chatty(pt.proxy.port, rng, true);
    else if (kind === 'mix') { const p = rng.int(10); if (p < 6) await chatty(pt.proxy.port, rng, false); else if (p < 8) await chatty(pt.proxy.port, rng, true); else await violator(pt.proxy.port, rng, rng.int(4)); }
    else await violator(pt.proxy.port, rng, Number(kind.slice(1)));
  });
  const t0 = Date.now();
  while (pt.proxy.openConnections > 0 && Date.now() - t0 < 40000) await sleep(100);
  console.log(kind, 'open after', Date.now() - t0, 'ms:', pt.proxy.openConnections, 'opens', pt.opens.size, 'ends', pt.ends.size);
  await pt.stop();
}
wss.close(); process.exit(0);
