/**
 * TCP stream reassembly (issue 14): out-of-order segments, retransmissions and overlaps give the
 * stream once and in order; a hole is one gap, reported, never a crash; sequence numbers wrap.
 * Then the same on a real capture (fixtures/pcap/lo-ethernet.pcap) rewritten: reordered,
 * duplicated, with a packet lost or cut by the snap length.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StreamReassembler, MAX_HELD_SEGMENTS } from '../../src/pcap/tcp-reassembly.js';
import { CaptureParser } from '../../src/pcap/block-reader.js';
import { tcpSegmentOf } from '../../src/pcap/link-layer.js';
import { EventBus } from '../../src/session/event-bus.js';
import { replayPacketFile } from '../../src/pcap/read-file.js';
import type { SessionEvent } from '../../src/session/events.js';
import { messageText } from '../../src/session/event-data.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

const NONE = { syn: false, fin: false, rst: false };
const STREAM = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');

function feed(r: StreamReassembler, segments: readonly [number, number, number][], isn: number): { text: string; gaps: string[] } {
  let text = '';
  const gaps: string[] = [];
  for (const [start, end] of segments) {
    const result = r.segment((isn + start) >>> 0, STREAM.subarray(start, end), NONE);
    text += Buffer.concat(result.data).toString();
    if (result.gap) gaps.push(result.gap);
  }
  return { text, gaps };
}

describe('StreamReassembler', () => {
  for (const isn of [1000, 0xfffffff0]) {
    it(`in order, reordered, retransmitted, overlapping: the stream once (ISN ${isn.toString(16)})`, () => {
      const cases: [number, number, number][][] = [
        [[0, 10, 0], [10, 20, 0], [20, 36, 0]],
        [[0, 10, 0], [20, 36, 0], [10, 20, 0]],
        [[0, 10, 0], [0, 10, 0], [10, 20, 0], [5, 15, 0], [20, 36, 0], [20, 36, 0]],
        [[0, 4, 0], [30, 36, 0], [2, 12, 0], [25, 32, 0], [8, 27, 0]],
        [[0, 1, 0], [3, 4, 0], [2, 3, 0], [1, 2, 0], [4, 36, 0]],
      ];
      for (const segments of cases) {
        const r = new StreamReassembler();
        r.segment(isn - 1, Buffer.alloc(0), { syn: true, fin: false, rst: false });
        const { text, gaps } = feed(r, segments, isn);
        expect(text).toBe(STREAM.toString());
        expect(gaps).toEqual([]);
        expect(r.finish()).toBeNull();
      }
    });
  }

  it('a hole that never fills is one gap at the end, with the byte count', () => {
    const r = new StreamReassembler();
    const { text } = feed(r, [[0, 10, 0], [20, 36, 0]], 5);
    expect(text).toBe('0123456789');
    expect(r.finish()).toMatch(/^10 bytes of this direction are missing after byte 10/);
    expect(r.finish()).toBeNull();
  });

  it('too many segments waiting for a hole: a gap now, bounded memory', () => {
    const r = new StreamReassembler();
    r.segment(0, Buffer.from('a'), NONE);
    let gap: string | null = null;
    for (let i = 0; i <= MAX_HELD_SEGMENTS && gap === null; i++) gap = r.segment(10 + i, Buffer.from('x'), NONE).gap;
    expect(gap).toMatch(/missing after byte 1/);
    expect(r.broken).toBe(true);
    expect(r.segment(2, Buffer.from('y'), NONE).data).toEqual([]);
  });

  it('FIN in order ends the stream; a FIN before a hole waits for it', () => {
    const r = new StreamReassembler();
    expect(r.segment(0, Buffer.from('ab'), NONE).ended).toBe(false);
    expect(r.segment(4, Buffer.from('ef'), { syn: false, fin: true, rst: false }).ended).toBe(false);
    const last = r.segment(2, Buffer.from('cd'), NONE);
    expect(Buffer.concat(last.data).toString()).toBe('cdef');
    expect(last.ended).toBe(true);
  });

  it('a segment cut by the snap length delivers what it has, then reports the gap', () => {
    const r = new StreamReassembler();
    const result = r.segment(0, Buffer.from('abc'), NONE, 10);
    expect(Buffer.concat(result.data).toString()).toBe('abc');
    expect(result.gap).toMatch(/cut by the capture's snap length: 7 bytes/);
  });
});

/** The fixture's records, rewritten by `edit`, as a new classic pcap file. */
function rewrite(edit: (packets: { header: Buffer; data: Buffer }[]) => { header: Buffer; data: Buffer }[]): string {
  const file = fs.readFileSync(path.resolve('fixtures/pcap/lo-ethernet.pcap'));
  const packets: { header: Buffer; data: Buffer }[] = [];
  let at = 24;
  while (at + 16 <= file.length) {
    const captured = file.readUInt32LE(at + 8);
    packets.push({ header: Buffer.from(file.subarray(at, at + 16)), data: Buffer.from(file.subarray(at + 16, at + 16 + captured)) });
    at += 16 + captured;
  }
  const out = edit(packets);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-reasm-'));
  made.push(dir);
  const name = path.join(dir, 'edited.pcap');
  fs.writeFileSync(name, Buffer.concat([file.subarray(0, 24), ...out.flatMap((p) => {
    const h = Buffer.from(p.header);
    h.writeUInt32LE(p.data.length, 8);
    return [h, p.data];
  })]));
  return name;
}

function payloadLength(data: Buffer): number {
  const s = tcpSegmentOf(1, data);
  return s ? s.payload.length : 0;
}

function fromServer(data: Buffer): boolean {
  const s = tcpSegmentOf(1, data);
  return s !== null && s.srcPort !== 0 && s.srcPort < s.dstPort;
}

async function read(file: string): Promise<{ events: SessionEvent[]; warnings: string[] }> {
  const bus = new EventBus();
  const events: SessionEvent[] = [];
  const warnings: string[] = [];
  bus.subscribe('t', (e) => events.push(e));
  await replayPacketFile(file, bus, { onWarning: (w) => warnings.push(w) });
  return { events, warnings };
}

const texts = (events: readonly SessionEvent[], from: string): (string | null)[] =>
  events.filter((e) => e.type === 'message' && e.from === from).map((e) => (e.type === 'message' ? messageText(e) : null));

describe('a real capture, rewritten', () => {
  const EXPECTED = ['hello', 'hello hello hello', 'frag-one frag-two'];

  it('reordered and retransmitted packets read the same', async () => {
    const file = rewrite((packets) => {
      const out = [...packets];
      for (let i = 0; i + 1 < out.length; i += 2) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
      return out.flatMap((p) => (payloadLength(p.data) > 0 ? [p, p] : [p]));
    });
    const { events, warnings } = await read(file);
    expect(warnings).toEqual([]);
    expect(texts(events, 'client')).toEqual(EXPECTED);
    expect(texts(events, 'server')).toEqual(EXPECTED);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('a lost server packet: an error of stage reassembly for that connection, the client side intact', async () => {
    let dropped = false;
    const file = rewrite((packets) =>
      packets.filter((p) => {
        // The second server packet with data after the 101: an echo.
        if (dropped || !fromServer(p.data) || payloadLength(p.data) === 0 || p.data.includes(Buffer.from('HTTP/1.1 101'))) return true;
        dropped = true;
        return false;
      }));
    expect(dropped).toBe(true);
    const { events } = await read(file);
    const errors = events.filter((e) => e.type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ conn: 1, stage: 'reassembly', from: 'server' });
    expect(texts(events, 'client')).toEqual(EXPECTED);
    expect(events.filter((e) => e.type === 'end')).toHaveLength(1);
  });

  it('a packet cut by the snap length: a reassembly error, no crash', async () => {
    let cut = false;
    const file = rewrite((packets) =>
      packets.map((p) => {
        if (cut || fromServer(p.data) || payloadLength(p.data) < 8 || p.data.includes(Buffer.from('GET '))) return p;
        cut = true;
        return { header: p.header, data: p.data.subarray(0, p.data.length - 3) };
      }));
    expect(cut).toBe(true);
    const { events } = await read(file);
    expect(events.filter((e) => e.type === 'error')).toMatchObject([{ stage: 'reassembly', from: 'client' }]);
    expect(events.filter((e) => e.type === 'end')).toHaveLength(1);
  });
});
