/**
 * Link-layer headers (issue 14): the Ethernet fixture's packets re-wrapped as BSD null/loopback,
 * OpenBSD loop, raw IP and LINKTYPE_IPV4 read to the same WebSocket messages; the Linux cooked
 * v1/v2 and IPv6 fixtures are covered in foreign.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/session/event-bus.js';
import { replayPacketFile } from '../../src/pcap/read-file.js';
import { messageText } from '../../src/session/event-data.js';
import { tcpSegmentOf } from '../../src/pcap/link-layer.js';
import { LinkType } from '../../src/pcap/pcapng-format.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

function rewrap(linkType: number, head: (ip: Buffer) => Buffer): string {
  const file = fs.readFileSync(path.resolve('fixtures/pcap/lo-ethernet.pcap'));
  const header = Buffer.from(file.subarray(0, 24));
  header.writeUInt32LE(linkType, 20);
  const parts: Buffer[] = [header];
  let at = 24;
  while (at + 16 <= file.length) {
    const captured = file.readUInt32LE(at + 8);
    const ip = file.subarray(at + 16 + 14, at + 16 + captured);
    const data = Buffer.concat([head(ip), ip]);
    const h = Buffer.from(file.subarray(at, at + 16));
    h.writeUInt32LE(data.length, 8);
    h.writeUInt32LE(data.length, 12);
    parts.push(h, data);
    at += 16 + captured;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-link-'));
  made.push(dir);
  const out = path.join(dir, 'rewrapped.pcap');
  fs.writeFileSync(out, Buffer.concat(parts));
  return out;
}

const le32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const be32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

describe('link layers', () => {
  for (const [name, linkType, head] of [
    ['null/loopback (AF_INET, host order)', LinkType.Null, () => le32(2)],
    ['loop (AF_INET, network order)', LinkType.Loop, () => be32(2)],
    ['raw IP', LinkType.Raw, () => Buffer.alloc(0)],
    ['LINKTYPE_IPV4', LinkType.Ipv4, () => Buffer.alloc(0)],
  ] as const) {
    it(`${name}: the same messages`, async () => {
      const bus = new EventBus();
      const texts: (string | null)[] = [];
      bus.on('t', 'message', (m) => texts.push(messageText(m)));
      await replayPacketFile(rewrap(linkType, head), bus);
      expect(texts).toEqual(['hello', 'hello', 'hello hello hello', 'hello hello hello', 'frag-one frag-two', 'frag-one frag-two']);
    });
  }

  it('an unknown link type, a non-TCP or fragmented IP packet is not a segment', () => {
    const ip = Buffer.alloc(40);
    ip[0] = 0x45;
    ip.writeUInt16BE(40, 2);
    ip[9] = 6;
    ip[32] = 0x50;
    expect(tcpSegmentOf(LinkType.Raw, ip)).not.toBeNull();
    expect(tcpSegmentOf(999, ip)).toBeNull();
    const udp = Buffer.from(ip);
    udp[9] = 17;
    expect(tcpSegmentOf(LinkType.Raw, udp)).toBeNull();
    const fragment = Buffer.from(ip);
    fragment.writeUInt16BE(0x2000, 6);
    expect(tcpSegmentOf(LinkType.Raw, fragment)).toBeNull();
    expect(tcpSegmentOf(LinkType.Raw, ip.subarray(0, 30))).toBeNull();
  });
});
