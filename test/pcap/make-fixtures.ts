/**
 * Makes fixtures/pcap/*: small real captures of `ws` peers on loopback, one per link type and
 * format frametap reads (run as root with dumpcap: `npx tsx test/pcap/make-fixtures.ts`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { recordWithDumpcap, type DumpcapOptions } from './dumpcap.js';

async function echoServer(host: string): Promise<{ readonly wss: WebSocketServer; readonly port: number }> {
  const wss = new WebSocketServer({ host, port: 0, perMessageDeflate: { threshold: 0 } });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  return { wss, port: (wss.address() as net.AddressInfo).port };
}

async function talk(host: string, port: number): Promise<void> {
  const ws = new WebSocket(`ws://${host.includes(':') ? `[${host}]` : host}:${port}/fixture`, { perMessageDeflate: { threshold: 0 } });
  await new Promise((resolve) => ws.once('open', resolve));
  const echo = (): Promise<unknown> => new Promise((resolve) => ws.once('message', resolve));
  for (const text of ['hello', 'hello hello hello']) {
    const e = echo();
    ws.send(text);
    await e;
  }
  const e = echo();
  ws.send('frag-one ', { fin: false });
  ws.send('frag-two', { fin: true });
  await e;
  ws.close(1000, 'done');
  await new Promise((resolve) => ws.once('close', resolve));
}

const out = path.resolve('fixtures/pcap');
fs.mkdirSync(out, { recursive: true });
const variants: readonly { name: string; host: string; options: Omit<DumpcapOptions, 'port' | 'file'> }[] = [
  { name: 'lo-ethernet.pcap', host: '127.0.0.1', options: { iface: 'lo', pcap: true } },
  { name: 'any-sll.pcap', host: '127.0.0.1', options: { iface: 'any', pcap: true, linkType: 'LINUX_SLL' } },
  { name: 'any-sll2.pcapng', host: '127.0.0.1', options: { iface: 'any', linkType: 'LINUX_SLL2' } },
  { name: 'lo-ipv6.pcapng', host: '::1', options: { iface: 'lo' } },
];
for (const v of variants) {
  const { wss, port } = await echoServer(v.host);
  const file = path.join(out, v.name);
  fs.rmSync(file, { force: true });
  await recordWithDumpcap({ ...v.options, port, file, host: v.host }, () => talk(v.host, port));
  await new Promise((resolve) => wss.close(resolve));
  process.stdout.write(`${file}: ${fs.statSync(file).size} bytes\n`);
}
