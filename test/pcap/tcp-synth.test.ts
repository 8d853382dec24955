/**
 * The synthesized TCP/IPv4 of a leg (capture-format.md "pcapng captures"): the RFC 1071 checksum
 * (the 32-bit fast path equals the plain one at every alignment and length), every segment's IPv4
 * and TCP checksum verifies, sequence and acknowledgement numbers follow the bytes, segments are
 * split at the IPv4 size limit, FIN and RST end the leg.
 */
import { describe, expect, it } from 'vitest';
import { checksumOf, fold, sum16, sum16Fast } from '../../src/pcap/checksum.js';
import { MAX_SEGMENT_PAYLOAD, TcpLegSynth } from '../../src/pcap/tcp-synth.js';
import { PcapngRecorder } from '../../src/pcap/pcapng-recorder.js';
import { captureHeader } from '../../src/capture/header.js';
import { CaptureParser } from '../../src/pcap/block-reader.js';
import { tcpSegmentOf } from '../../src/pcap/link-layer.js';

describe('Internet checksum', () => {
  it('RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    expect(sum16(Buffer.from('0001f203f4f5f6f7', 'hex'))).toBe(0xddf2);
    expect(checksumOf(0xddf2)).toBe(0x220d);
  });

  it('the 32-bit path equals the plain one at every alignment and length', () => {
    const big = Buffer.alloc(4096 + 8);
    for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 7) & 255;
    for (const offset of [0, 1, 2, 3, 4, 5]) {
      for (const length of [0, 1, 63, 64, 65, 66, 67, 100, 255, 256, 257, 263, 1000, 4095, 4096]) {
        const view = big.subarray(offset, offset + length);
        expect(sum16Fast(view, 0, length), `offset ${offset} length ${length}`).toBe(sum16(view, 0, length));
      }
    }
    expect(fold(0x1fffe)).toBe(0xffff);
    // Longer than the WebAssembly memory (two 64 KiB pages): summed in pieces.
    const huge = Buffer.alloc(300_001);
    for (let i = 0; i < huge.length; i++) huge[i] = (i * 17 + 3) & 255;
    expect(sum16Fast(huge, 0, huge.length)).toBe(sum16(huge, 0, huge.length));
    expect(sum16Fast(Buffer.alloc(70_000, 0xff), 0, 70_000)).toBe(0xffff);
  });
});

/** Every packet of a recorder's output with its TCP fields, checksums verified. */
function packetsOf(bytes: Buffer) {
  return new CaptureParser().push(bytes).flatMap((r) => {
    if (r.kind !== 'packet') return [];
    const d = r.data;
    // RFC 1071: a correct checksum makes the sum over the covered bytes 0xffff.
    const ipOk = fold(sum16(d, 0, 20)) === 0xffff;
    const tcpLength = d.length - 20;
    const pseudo = d.readUInt16BE(12) + d.readUInt16BE(14) + d.readUInt16BE(16) + d.readUInt16BE(18) + 6 + tcpLength;
    const tcpOk = fold(pseudo + sum16(d, 20, d.length)) === 0xffff;
    return [{ ...tcpSegmentOf(r.iface.linkType, d)!, ipOk, tcpOk, iface: r.iface.name, total: d.readUInt16BE(2) }];
  });
}

describe('a synthesized leg', () => {
  it('handshake, data both ways split at the IPv4 limit, FIN both ways: numbers consistent, checksums good', () => {
    const rec = new PcapngRecorder({ header: captureHeader('reverse', null, null), maxPayload: 1 << 20 });
    rec.record({ type: 'open', conn: 7, t: 1000, client: '127.0.0.1:5', target: 'ws://x/' });
    const big = Buffer.alloc(MAX_SEGMENT_PAYLOAD * 2 + 5, 0xab);
    rec.record({ type: 'chunk', conn: 7, t: 1001, leg: 'client', from: 'client', bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n') });
    rec.record({ type: 'chunk', conn: 7, t: 1002, leg: 'client', from: 'server', bytes: big });
    rec.record({ type: 'chunk', conn: 7, t: 1003, leg: 'client', from: 'client', bytes: Buffer.from([1, 2, 3]) });
    rec.record({ type: 'end', conn: 7, t: 1004, code: 1000, reason: '', initiator: null, clean: true, durationMs: 4, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 }, tcp: { client: 'fin', server: 'fin' } });
    const packets = packetsOf(rec.arena.take());
    expect(packets.every((p) => p.ipOk && p.tcpOk)).toBe(true);
    expect(packets.every((p) => p.iface === 'client-leg')).toBe(true);
    const flags = packets.map((p) => `${p.syn ? 'S' : ''}${p.fin ? 'F' : ''}${p.rst ? 'R' : ''}${p.ackFlag ? 'A' : ''}:${p.payload.length}`);
    expect(flags).toEqual(['S:0', 'SA:0', 'A:0', 'A:18', `A:${MAX_SEGMENT_PAYLOAD}`, `A:${MAX_SEGMENT_PAYLOAD}`, 'A:5', 'A:3', 'FA:0', 'A:0', 'FA:0', 'A:0']);
    expect(Math.max(...packets.map((p) => p.total))).toBe(0xffff);
    // The client's numbers: ISN+1 after the SYN, then advancing by what it sent; acks follow the server.
    const client = packets.filter((p) => p.srcPort !== 80);
    const server = packets.filter((p) => p.srcPort === 80);
    expect(server[0]!.ack).toBe((client[0]!.seq + 1) >>> 0);
    expect(client[2]!.seq).toBe((client[0]!.seq + 1) >>> 0);
    expect(client[3]!.seq).toBe((client[2]!.seq + 18) >>> 0);
    expect(client[3]!.ack).toBe((server[0]!.seq + 1 + big.length) >>> 0);
    expect(client[0]!.srcPort).toBeGreaterThanOrEqual(49152);
  });

  it('the same relayed bytes on both legs (the payload sum reused): every checksum good on each leg', () => {
    const rec = new PcapngRecorder({ header: captureHeader('reverse', null, null), maxPayload: 1 << 20 });
    rec.record({ type: 'open', conn: 3, t: 1, client: '127.0.0.1:5', target: 'ws://x/' });
    for (const size of [1, 300, MAX_SEGMENT_PAYLOAD + 77]) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 29 + size) & 255;
      rec.record({ type: 'chunk', conn: 3, t: 2, leg: 'client', from: 'client', bytes });
      rec.record({ type: 'chunk', conn: 3, t: 2, leg: 'upstream', from: 'client', bytes });
      // A different buffer with the same identity-free content right after: summed afresh.
      rec.record({ type: 'chunk', conn: 3, t: 3, leg: 'upstream', from: 'server', bytes: Buffer.from(bytes.subarray(0, Math.max(1, size >> 1))) });
    }
    const packets = packetsOf(rec.arena.take());
    expect(packets.length).toBeGreaterThan(10);
    expect(packets.filter((p) => !p.ipOk || !p.tcpOk)).toEqual([]);
    expect(new Set(packets.map((p) => p.iface))).toEqual(new Set(['client-leg', 'upstream-leg']));
  });

  it('a reset ends the leg at once; nothing is sent after it', () => {
    const synth = new TcpLegSynth({ ip: 1, port: 50000 }, { ip: 2, port: 80 }, { client: 0xfffffffe, server: 5 });
    const out: string[] = [];
    const emit = (from: string, h: Buffer): void => void out.push(`${from}:${h[33]!.toString(16)}`);
    synth.data('client', Buffer.from('x'), emit);
    synth.end('server', 'reset', emit);
    synth.data('client', Buffer.from('y'), emit);
    synth.end('client', 'fin', emit);
    expect(out).toEqual(['client:2', 'server:12', 'client:10', 'client:18', 'server:14']);
  });
});
