import { describe, expect, it } from 'vitest';
import rfc6455 from '../../fixtures/vectors/rfc6455-5.7.json' with { type: 'json' };
import violations from '../../fixtures/vectors/violations.json' with { type: 'json' };
import { VIOLATION_CODES, type ViolationRule } from '../../src/protocol/constants.js';
import { DirectionInspector } from '../../src/protocol/direction-inspector.js';
import { FrameDecoder, type DecodeEvent, type FrameHeader } from '../../src/protocol/frame-decoder.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';
import type { Sender, WireEvent } from '../../src/protocol/wire-events.js';
import { bytesOf, DEFLATE_TAKEOVER, hex, inspectSummary, splits, summarize, type Segment } from './helpers.js';

interface Vector {
  readonly name: string;
  readonly from: Sender;
  readonly bytes: Segment[];
  readonly events: string[];
}

describe('RFC 6455 §5.7 examples', () => {
  for (const vector of rfc6455.vectors as Vector[]) {
    it(`${vector.name}: whole, at every split point and one byte at a time`, async () => {
      const data = bytesOf(vector.bytes);
      expect(await inspectSummary([data], { from: vector.from })).toEqual(vector.events);
      // The big vector has 65546 split points: sample them, keeping every header boundary.
      const all = [...splits(data)];
      const chosen = data.length > 2048 ? all.filter((_, i) => i < 32 || i % 997 === 0 || i === all.length - 1) : all;
      for (const chunks of chosen) {
        expect(await inspectSummary(chunks, { from: vector.from }), `chunks ${chunks.map((c) => c.length).join('+')}`).toEqual(vector.events);
      }
    });
  }

  it('reports every header field as on the wire', () => {
    const decoder = new FrameDecoder({ from: 'client', maxPayload: 1024, deflate: false });
    const events = decoder.push(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
    const header = events[0] as FrameHeader;
    expect(header).toMatchObject({
      kind: 'header',
      offset: 0,
      fin: true,
      rsv1: false,
      opcode: 1,
      masked: true,
      maskKey: 0x37fa213d,
      length: 5,
      headerLength: 6,
      violated: false,
      message: 1,
      startsMessage: true,
      compressed: false,
    });
    expect(events.map((e) => e.kind)).toEqual(['header', 'payload', 'frame-end']);
  });
});

interface ViolationVector {
  readonly rule: ViolationRule;
  readonly code: number;
  readonly from: Sender;
  readonly deflate: boolean;
  readonly bytes: Segment[];
  readonly offset: number;
  readonly stops?: boolean;
}

/** A valid text frame "ok" from this sender. */
function okFrame(from: Sender): Buffer {
  return encodeFrame({ opcode: 1, payload: Buffer.from('ok'), mask: from === 'client' ? hex('01020304') : null });
}

async function runVector(vector: ViolationVector, chunks: Buffer[]): Promise<{ events: WireEvent[]; stopped: boolean }> {
  const events: WireEvent[] = [];
  const inspector = new DirectionInspector({
    from: vector.from,
    maxPayload: 1024 * 1024,
    deflate: vector.deflate ? DEFLATE_TAKEOVER : null,
    onEvent: (e) => events.push(e),
  });
  chunks.forEach((c, i) => inspector.push(c, i));
  const stopped = inspector.stopped;
  await inspector.end(chunks.length);
  return { events, stopped };
}

describe('one test per violation rule (rule, close code, from, offset; parsing goes on)', () => {
  for (const vector of violations.vectors as ViolationVector[]) {
    it(`${vector.rule} from the ${vector.from} at offset ${vector.offset}`, async () => {
      const bad = bytesOf(vector.bytes);
      const data = Buffer.concat([bad, okFrame(vector.from)]);
      const { events, stopped } = await runVector(vector, [data]);
      const found = events.filter((e) => e.kind === 'violation' && e.offset < bad.length);
      expect(found.map(summarize)).toEqual([`violation ${vector.rule} ${vector.code} @${vector.offset}`]);
      expect(vector.code).toBe(VIOLATION_CODES[vector.rule]);
      const index = events.indexOf(found[0]!);
      if (vector.stops) {
        // The frame boundary is lost: inspection of this direction stops with this one violation.
        expect(stopped).toBe(true);
        expect(events.slice(index + 1)).toEqual([]);
        return;
      }
      expect(stopped).toBe(false);
      // The violation comes before the frame it concerns (framing) or before the close/message (content).
      const after = events.slice(index + 1).map(summarize);
      expect(after.some((line) => line.startsWith('frame@') || line.startsWith('message') || line.startsWith('close'))).toBe(true);
      const lines = events.map(summarize);
      const okAt = lines.findIndex((l) => l.startsWith(`frame@${bad.length} F--- op=1 ${vector.from === 'client' ? 'masked' : 'unmasked'} len=2 payload=6f6b`));
      expect(okAt, lines.join('\n')).toBeGreaterThan(index);
      expect(lines[okAt + 1]).toBe('message op=1 frames=1 len=2 text="ok"');
      // Same events whatever the chunking.
      for (const chunks of splits(data)) {
        const again = await runVector(vector, chunks);
        expect(again.events.map(summarize)).toEqual(lines);
      }
    });
  }

  it('covers every frame-level rule of the capture format', () => {
    const handshakeRules = ['extension-not-offered', 'subprotocol-not-offered', 'invalid-extension-params'];
    const covered = new Set((violations.vectors as ViolationVector[]).map((v) => v.rule));
    for (const rule of Object.keys(VIOLATION_CODES)) {
      if (!handshakeRules.includes(rule)) expect(covered.has(rule as ViolationRule), rule).toBe(true);
    }
  });

  it('marks the offending frame violated and reports the violation first', async () => {
    const lines = await inspectSummary([hex('c1 02 68 69')], { from: 'server' });
    expect(lines).toEqual([
      'violation rsv1-without-extension 1002 @0',
      'frame@0 F1-- op=1 unmasked len=2 payload=6869 violated',
      'message op=1 frames=1 len=2 text="hi"',
    ]);
  });

  it('does not also report content rules for a frame that broke a framing rule', async () => {
    const lines = await inspectSummary([hex('c1 02 c3 28')], { from: 'server' });
    expect(lines.filter((l) => l.startsWith('violation'))).toEqual(['violation rsv1-without-extension 1002 @0']);
  });
});

describe('streaming and bounds', () => {
  it('never modifies the chunk it is given (masked frames are unmasked into a new buffer)', () => {
    const frame = encodeFrame({ opcode: 2, payload: Buffer.alloc(300, 7), mask: hex('a1b2c3d4') });
    const copy = Buffer.from(frame);
    const decoder = new FrameDecoder({ from: 'client', maxPayload: 1 << 20, deflate: false });
    const events = decoder.push(frame);
    expect(frame.equals(copy)).toBe(true);
    const payload = Buffer.concat(events.filter((e): e is Extract<DecodeEvent, { kind: 'payload' }> => e.kind === 'payload').map((e) => e.data));
    expect(payload.equals(Buffer.alloc(300, 7))).toBe(true);
  });

  it('streams a 1 GiB frame with memory bounded by maxPayload and counts its true length', async () => {
    const maxPayload = 4096;
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'client', maxPayload, deflate: null, onEvent: (e) => events.push(e) });
    const total = 1024 * 1024 * 1024;
    inspector.push(encodeFrame({ opcode: 2, mask: hex('01020304'), declaredLength: total }), 0);
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    const before = process.memoryUsage().arrayBuffers;
    for (let sent = 0; sent < total; sent += chunk.length) inspector.push(chunk, 1);
    const grown = process.memoryUsage().arrayBuffers - before;
    inspector.push(okFrame('client'), 2);
    await inspector.end(3);
    expect(grown).toBeLessThan(32 * 1024 * 1024);
    const frame = events[0]!;
    expect(frame.kind).toBe('frame');
    if (frame.kind !== 'frame') return;
    expect(frame.header.length).toBe(total);
    expect(frame.payload.length).toBe(maxPayload);
    expect(frame.truncated).toBe(true);
    // Unmasked with the key phase right: 0x5a ^ key byte i%4, i from 0.
    expect(frame.payload.subarray(0, 4)).toEqual(Buffer.from([0x5a ^ 1, 0x5a ^ 2, 0x5a ^ 3, 0x5a ^ 4]));
    const message = events[1]!;
    expect(message).toMatchObject({ kind: 'message', length: total, truncated: true });
    expect(events.map(summarize).slice(2)).toEqual([
      `frame@${14 + total} F--- op=1 masked len=2 payload=6f6b`,
      'message op=1 frames=1 len=2 text="ok"',
    ]);
  });

  it('holds at most a partial header between pushes', () => {
    const decoder = new FrameDecoder({ from: 'server', maxPayload: 16, deflate: false });
    const stream = Buffer.concat([encodeFrame({ opcode: 2, payload: Buffer.alloc(70000) }), encodeFrame({ opcode: 9, payload: hex('0102') })]);
    let most = 0;
    for (let i = 0; i < stream.length; i += 3) {
      decoder.push(stream.subarray(i, i + 3));
      most = Math.max(most, decoder.buffered);
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThan(14);
  });

  it('reports a frame cut off by the end of the stream as incomplete', async () => {
    const frame = encodeFrame({ opcode: 1, payload: Buffer.from('Hello world') });
    const lines = await inspectSummary([frame.subarray(0, 7)], { from: 'server' });
    expect(lines).toEqual(['frame@0 F--- op=1 unmasked len=11 payload=48656c6c6f incomplete=5']);
    // A header cut off is not a frame yet: nothing to report.
    expect(await inspectSummary([frame.subarray(0, 1)], { from: 'server' })).toEqual([]);
  });

  it('keeps offsets in stream order across frames of every length form', async () => {
    const frames = [
      encodeFrame({ opcode: 2, payload: Buffer.alloc(3) }),
      encodeFrame({ opcode: 2, payload: Buffer.alloc(200) }),
      encodeFrame({ opcode: 2, payload: Buffer.alloc(70000) }),
      encodeFrame({ opcode: 10 }),
    ];
    const lines = await inspectSummary([Buffer.concat(frames)], { from: 'server' });
    const offsets = lines.filter((l) => l.startsWith('frame@')).map((l) => Number(/^frame@(\d+)/.exec(l)![1]));
    expect(offsets).toEqual([0, 5, 5 + 204, 5 + 204 + 70010]);
  });

  it('keeps only maxPayload bytes of a frame and of a message, UTF-8 judged on all of them', async () => {
    const text = 'é'.repeat(50); // 100 bytes
    const lines = await inspectSummary([encodeFrame({ opcode: 1, payload: Buffer.from(text), mask: hex('0a0b0c0d') })], { from: 'client', maxPayload: 9 });
    expect(lines).toEqual([
      `frame@0 F--- op=1 masked len=100 payload=${Buffer.from(text).subarray(0, 9).toString('hex')} truncated`,
      `message op=1 frames=1 len=100 text=${JSON.stringify(Buffer.from(text).subarray(0, 9).toString())} truncated`,
    ]);
    const bad = Buffer.concat([Buffer.from(text), hex('ff')]);
    const badLines = await inspectSummary([encodeFrame({ opcode: 1, payload: bad, mask: hex('0a0b0c0d') })], { from: 'client', maxPayload: 9 });
    expect(badLines[1]).toBe('violation invalid-utf8 1007 @0');
  });
});

describe('an all-zero masking key', () => {
  it('hands the payload out as a view of the received bytes (no unmask copy), at every split, with the key reported', () => {
    // Its own ArrayBuffer (not Node's shared pool), so a copy could not pass for a view.
    const frame = Buffer.from(new Uint8Array(hex('81 85 00 00 00 00 68 65 6c 6c 6f')).buffer);
    for (const chunks of splits(frame)) {
      const decoder = new FrameDecoder({ from: 'client', maxPayload: 1024, deflate: false });
      const pieces: Buffer[] = [];
      let header: FrameHeader | null = null;
      for (const chunk of chunks) {
        for (const e of decoder.push(chunk)) {
          if (e.kind === 'header') header = e;
          if (e.kind === 'payload') {
            // A view into one of the chunks pushed, not a copy.
            expect(chunks.some((c) => c.buffer === e.data.buffer)).toBe(true);
            pieces.push(e.data);
          }
        }
      }
      expect(header).toMatchObject({ masked: true, maskKey: 0, length: 5 });
      expect(Buffer.concat(pieces).toString()).toBe('hello');
    }
  });
});
