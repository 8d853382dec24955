/**
 * Seeded, reproducible fuzz: random bytes and mutated valid frame streams, cut into random chunks,
 * must never make the protocol core throw or hold more than its limits. Change SEED to explore;
 * a failure message names the sequence number and its bytes so it can be replayed.
 */
import { describe, expect, it } from 'vitest';
import { DirectionInspector } from '../../src/protocol/direction-inspector.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';
import type { Sender, WireEvent } from '../../src/protocol/wire-events.js';
import { DEFLATE_NO_TAKEOVER, DEFLATE_TAKEOVER, prng } from './helpers.js';

const SEED = 0x5eed;
const SEQUENCES = 100_000;
/** Longest possible header: 2 + 8 (64-bit length) + 4 (mask) − 1 byte still missing. */
const MAX_HELD = 13;

/** A few compressed-looking payloads so the inflate path sees valid and corrupt data. */
const DEFLATED = [Buffer.from('f248cdc9c90700', 'hex'), Buffer.from('f200110000', 'hex'), Buffer.from('00', 'hex'), Buffer.from('000500faff48656c6c6f00', 'hex')];

function randomBytes(rand: () => number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

function generate(rand: () => number): Buffer {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  if (rand() < 0.4) return randomBytes(rand, Math.floor(rand() * 48));
  const frames: Buffer[] = [];
  const count = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < count; i++) {
    const compressed = rand() < 0.2;
    const payload = compressed ? pick(DEFLATED) : randomBytes(rand, pick([0, 1, 5, 30, 126, 300]));
    frames.push(
      encodeFrame({
        fin: rand() < 0.8,
        rsv1: compressed,
        rsv2: rand() < 0.03,
        opcode: pick([0, 1, 1, 2, 2, 8, 9, 10, 3, 0xb]),
        payload,
        mask: rand() < 0.5 ? Buffer.from([rand() * 256, rand() * 256, rand() * 256, rand() * 256]) : null,
        lengthForm: pick(['minimal', 'minimal', 'minimal', 16, 64] as const),
      }),
    );
  }
  const stream = Buffer.concat(frames);
  const mutations = Math.floor(rand() * 4);
  for (let m = 0; m < mutations && stream.length > 0; m++) stream[Math.floor(rand() * stream.length)] = Math.floor(rand() * 256);
  return rand() < 0.2 ? stream.subarray(0, Math.floor(rand() * stream.length)) : stream;
}

function cut(data: Buffer, rand: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const step = 1 + Math.floor(rand() * Math.max(1, data.length / 2));
    chunks.push(data.subarray(at, at + step));
    at += step;
  }
  return chunks;
}

describe('fuzz (seeded)', () => {
  it(`${SEQUENCES} random chunk sequences never throw and never exceed the limits`, async () => {
    const rand = prng(SEED);
    let frames = 0;
    let violations = 0;
    let messages = 0;
    for (let n = 0; n < SEQUENCES; n++) {
      const data = generate(rand);
      const chunks = cut(data, rand);
      const from: Sender = rand() < 0.5 ? 'client' : 'server';
      const maxPayload = Math.floor(rand() * 40);
      const withDeflate = rand() < 0.03;
      const deflate = withDeflate ? (rand() < 0.5 ? DEFLATE_TAKEOVER : DEFLATE_NO_TAKEOVER) : null;
      const where = (): string => `sequence ${n}: ${from} maxPayload=${maxPayload} deflate=${withDeflate} bytes=${data.toString('hex')}`;
      const copy = Buffer.from(data);
      const events: WireEvent[] = [];
      const inspector = new DirectionInspector({ from, maxPayload, deflate, onEvent: (e) => events.push(e) });
      for (let i = 0; i < chunks.length; i++) inspector.push(chunks[i]!, i);
      await inspector.end(chunks.length);
      inspector.dispose();
      if (inspector.failure !== null) throw new Error(`${where()}: internal failure ${String(inspector.failure)}`);
      if (!copy.equals(data)) throw new Error(`${where()}: input modified`);
      let lastOffset = -1;
      for (const e of events) {
        if (e.kind === 'frame') {
          frames++;
          if (e.payload.length > maxPayload || e.payload.length > e.header.length || e.header.offset <= lastOffset || e.header.offset >= data.length) {
            throw new Error(`${where()}: bad frame ${JSON.stringify({ ...e, payload: e.payload.length })}`);
          }
          lastOffset = e.header.offset;
        } else if (e.kind === 'message') {
          messages++;
          if (e.data.length > maxPayload || e.data.length > e.length) throw new Error(`${where()}: message keeps ${e.data.length} bytes`);
        } else if (e.kind === 'violation') violations++;
      }
      // The sans-io decoder alone, on a sample: it holds at most a partial header between pushes.
      if (n % 8 === 0) {
        const decoder = new FrameDecoder({ from, maxPayload, deflate: withDeflate });
        for (const chunk of chunks) {
          decoder.push(chunk);
          if (decoder.buffered > MAX_HELD) throw new Error(`${where()}: decoder holds ${decoder.buffered} bytes`);
        }
      }
    }
    // The generator reaches every outcome often.
    expect(frames).toBeGreaterThan(SEQUENCES);
    expect(messages).toBeGreaterThan(SEQUENCES / 10);
    expect(violations).toBeGreaterThan(SEQUENCES / 2);
  });
});
