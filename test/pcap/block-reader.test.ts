/**
 * The pcap/pcapng block parser on hostile input (issue 14 "Bad input"): bad block lengths, a 4 GiB
 * declared block, a file cut inside a block, random bytes; every chunking of a real file down to
 * one byte reads the same records. Never a throw, never memory beyond one block.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureParser, MAX_BLOCK_BYTES, sniffCapture, type CaptureRecord } from '../../src/pcap/block-reader.js';
import { BlockArena } from '../../src/pcap/block-arena.js';
import { encodeFrametapRecord, encodeInterface, encodePacket, encodeSectionHeader, nanosHalves } from '../../src/pcap/pcapng-encode.js';

function parseAll(bytes: Buffer, piece = bytes.length): { records: CaptureRecord[]; problem: string | null; end: string | null } {
  const parser = new CaptureParser();
  const records: CaptureRecord[] = [];
  for (let at = 0; at < bytes.length; at += piece) records.push(...parser.push(Buffer.from(bytes.subarray(at, at + piece))));
  return { records, problem: parser.problem, end: parser.end() };
}

/** A small frametap-style file: SHB, one IDB, a record, three packets. */
function smallFile(): Buffer {
  const arena = new BlockArena();
  encodeSectionHeader(arena, 'test');
  encodeInterface(arena, 'client-leg');
  encodeFrametapRecord(arena, Buffer.from('{"type":"x"}'));
  const header = Buffer.alloc(20, 0x45);
  for (let i = 0; i < 3; i++) encodePacket(arena, 0, 1764340207123.4563 + i, header, Buffer.from(`payload ${i}`), 0, 9, 0);
  return arena.take();
}

const summary = (records: readonly CaptureRecord[]): string[] =>
  records.map((r) => (r.kind === 'packet' ? `packet ${r.t} ${r.data.toString('hex')}` : `record ${r.json}`));

describe('pcapng blocks', () => {
  it('reads every record, at every chunking down to one byte', () => {
    const file = smallFile();
    const whole = parseAll(file);
    expect(whole.problem).toBeNull();
    expect(whole.end).toBeNull();
    expect(whole.records.map((r) => r.kind)).toEqual(['frametap', 'packet', 'packet', 'packet']);
    for (const piece of [1, 2, 3, 5, 7, 11, 64]) expect(summary(parseAll(file, piece).records), `pieces of ${piece}`).toEqual(summary(whole.records));
  });

  it('blocks larger than a read, and of every size around it: the same records and offsets at every read size', () => {
    const arena = new BlockArena();
    encodeSectionHeader(arena, 'test');
    encodeInterface(arena, 'client-leg');
    const header = Buffer.alloc(20, 0x45);
    // Payloads from a few bytes to 1 MiB: a block ends inside the first bytes a read joins, past
    // them (the join grows), or only reads later.
    for (const size of [3, 70_000, 65_000, 300_000, 1, 1024 * 1024, 262_143, 5]) {
      encodePacket(arena, 0, 1764340207123 + size, header, Buffer.alloc(size, size & 0xff), 0, size, 0);
    }
    encodeFrametapRecord(arena, Buffer.from(`{"type":"x","pad":"${'y'.repeat(200_000)}"}`));
    const file = arena.take();
    const withOffsets = (records: readonly CaptureRecord[]): string[] => records.map((r) => `${r.offset} ${r.kind} ${r.kind === 'packet' ? r.data.length : r.json.length}`);
    const whole = parseAll(file);
    expect(whole.records).toHaveLength(9);
    for (const piece of [1000, 4093, 65_536, 100_000, 1024 * 1024]) {
      const read = parseAll(file, piece);
      expect(read.problem, `pieces of ${piece}`).toBeNull();
      expect(read.end, `pieces of ${piece}`).toBeNull();
      expect(withOffsets(read.records), `pieces of ${piece}`).toEqual(withOffsets(whole.records));
      expect(summary(read.records)).toEqual(summary(whole.records));
    }
    // Cut inside the 1 MiB block: every block before it, and the warning names where it starts.
    const cutAt = whole.records[5]!.offset + 1000;
    const cut = parseAll(file.subarray(0, cutAt), 65_536);
    expect(cut.records).toHaveLength(5);
    expect(cut.end).toContain(`at byte ${whole.records[5]!.offset}`);
  });

  it('keeps nanosecond timestamps exact to the double (t read back === t written)', () => {
    const ts = [1764340207123.4563, 1795875877049.396, 0.001, 1e12 + 0.000244140625, Date.now() + 0.123];
    for (const t of ts) {
      const arena = new BlockArena();
      encodeSectionHeader(arena, 'x');
      encodeInterface(arena, 'client-leg');
      encodePacket(arena, 0, t, Buffer.alloc(0), Buffer.alloc(0), 0, 0, 0);
      const [packet] = parseAll(arena.take()).records;
      expect(packet).toMatchObject({ kind: 'packet', t });
    }
    expect(nanosHalves(1)).toEqual({ high: 0, low: 1_000_000 });
  });

  it('a file cut inside a block (kill -9): every complete block, then one warning', () => {
    const file = smallFile();
    for (let cut = file.length - 1; cut > file.length - 40; cut--) {
      const { records, problem, end } = parseAll(file.subarray(0, cut));
      expect(problem).toBeNull();
      expect(records.filter((r) => r.kind === 'packet')).toHaveLength(2);
      expect(end).toMatch(/ends inside a block at byte \d+ \(cut short/);
    }
  });

  it('a block declaring 4 GiB: one clear error, what came before kept, no allocation of it', () => {
    const file = smallFile();
    const bad = Buffer.alloc(12);
    bad.writeUInt32LE(6, 0);
    bad.writeUInt32LE(0xfffffffc, 4);
    const { records, problem } = parseAll(Buffer.concat([file, bad, file.subarray(0, 100)]));
    expect(records.filter((r) => r.kind === 'packet')).toHaveLength(3);
    expect(problem).toMatch(new RegExp(`declares 4294967292 bytes, more than the ${MAX_BLOCK_BYTES / 1024 / 1024} MiB`));
    expect(problem!.split('\n')).toHaveLength(1);
  });

  it('bad block lengths (too small, unaligned, trailing copy differs) stop with one line', () => {
    const file = smallFile();
    const firstPacket = file.indexOf(Buffer.from([6, 0, 0, 0]), 28);
    for (const [mutate, message] of [
      [(b: Buffer) => b.writeUInt32LE(8, firstPacket + 4), /below the 12-byte minimum/],
      [(b: Buffer) => b.writeUInt32LE(b.readUInt32LE(firstPacket + 4) + 1, firstPacket + 4), /not a multiple of 4/],
      [(b: Buffer) => b.writeUInt32LE(b.readUInt32LE(firstPacket + 4) + 4, firstPacket + 4), /trailing length differs/],
    ] as const) {
      const b = Buffer.from(file);
      mutate(b);
      const { problem } = parseAll(b);
      expect(problem).toMatch(message);
    }
  });

  it('a packet whose captured length exceeds its block, or an unknown interface, is an error, not a read past the block', () => {
    const file = smallFile();
    const firstPacket = file.indexOf(Buffer.from([6, 0, 0, 0]), 28);
    const b = Buffer.from(file);
    b.writeUInt32LE(1000, firstPacket + 20);
    expect(parseAll(b).problem).toMatch(/captured length 1000 exceeds the block/);
    const c = Buffer.from(file);
    c.writeUInt32LE(7, firstPacket + 8);
    expect(parseAll(c).problem).toMatch(/names interface 7/);
  });

  it('random bytes after a valid header never throw and never hold more than one block', () => {
    let seed = 20261128;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const header = smallFile().subarray(0, 100);
    for (let i = 0; i < 2000; i++) {
      const noise = Buffer.alloc(Math.floor(random() * 600));
      for (let j = 0; j < noise.length; j++) noise[j] = Math.floor(random() * 256);
      // Bias toward plausible block types and small lengths so deep paths are reached.
      if (noise.length >= 8 && random() < 0.5) {
        noise.writeUInt32LE([1, 2, 3, 6, 0x80000f7a, 0x0a0d0d0a][Math.floor(random() * 6)]!, 0);
        noise.writeUInt32LE(12 + 4 * Math.floor(random() * 40), 4);
      }
      const input = random() < 0.5 ? Buffer.concat([header, noise]) : noise;
      expect(() => parseAll(input, 1 + Math.floor(random() * 64))).not.toThrow();
    }
  });
});

describe('classic pcap', () => {
  const FIXTURES = path.resolve('fixtures/pcap');

  it('is told apart by magic number, not by name', () => {
    expect(sniffCapture(fs.readFileSync(path.join(FIXTURES, 'lo-ethernet.pcap')))).toBe('pcap');
    expect(sniffCapture(fs.readFileSync(path.join(FIXTURES, 'any-sll2.pcapng')))).toBe('pcapng');
    expect(sniffCapture(Buffer.from('{"type":"capture"}'))).toBeNull();
  });

  it('reads every record at every chunking; a 4 GiB record length is one error', () => {
    const file = fs.readFileSync(path.join(FIXTURES, 'any-sll.pcap'));
    const whole = parseAll(file);
    expect(whole.records.length).toBeGreaterThan(10);
    expect(whole.records.every((r) => r.kind === 'packet' && r.iface.linkType === 113)).toBe(true);
    for (const piece of [1, 3, 17]) expect(summary(parseAll(file, piece).records)).toEqual(summary(whole.records));
    const bad = Buffer.from(file.subarray(0, 24 + 16));
    bad.writeUInt32LE(0xffffffff, 24 + 8);
    expect(parseAll(bad).problem).toMatch(/declares 4294967295 captured bytes/);
  });

  it('a snaplen-cut packet keeps its original length', () => {
    const file = Buffer.from(fs.readFileSync(path.join(FIXTURES, 'lo-ethernet.pcap')));
    const records = parseAll(file).records;
    expect(records.every((r) => r.kind === 'packet' && r.originalLength === r.data.length)).toBe(true);
  });
});

describe('hostile captures end to end', () => {
  it('random bit flips in real captures: the replay never throws and every connection it opens ends', async () => {
    const { PacketReplay } = await import('../../src/pcap/packet-replay.js');
    const { EventBus } = await import('../../src/session/event-bus.js');
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const files = ['lo-ethernet.pcap', 'any-sll.pcap', 'any-sll2.pcapng', 'lo-ipv6.pcapng'].map((f) => fs.readFileSync(path.join(path.resolve('fixtures/pcap'), f)));
    for (let i = 0; i < 300; i++) {
      const bytes = Buffer.from(files[i % files.length]!);
      const flips = 1 + Math.floor(random() * 20);
      for (let j = 0; j < flips; j++) bytes[Math.floor(random() * bytes.length)] ^= 1 << Math.floor(random() * 8);
      const bus = new EventBus((name, error) => {
        throw new Error(`sink ${name} failed: ${String(error)}`);
      });
      const opened = new Set<number>();
      const ended = new Set<number>();
      bus.subscribe('check', (e) => {
        if (e.type === 'open') opened.add(e.conn);
        if (e.type === 'end') ended.add(e.conn);
      });
      const replay = new PacketReplay({ bus, maxPayload: 1024 });
      const parser = new CaptureParser();
      for (let at = 0; at < bytes.length; at += 997) for (const r of parser.push(bytes.subarray(at, at + 997))) replay.record(r);
      await replay.finish();
      expect([...ended].sort(), `iteration ${i}`).toEqual([...opened].sort());
    }
  });
});
