import { describe, expect, it } from 'vitest';
import { FrameDecoder, type DecodeEvent, type FrameHeader } from '../../src/protocol/frame-decoder.js';
import { encodeClosePayload, encodeFrame, MessageCompressor } from '../../src/protocol/frame-encoder.js';
import { DEFLATE_NO_TAKEOVER, DEFLATE_TAKEOVER, hex, inspect, prng, showBytes } from './helpers.js';

describe('encodeFrame', () => {
  it('produces the RFC 6455 §5.7 bytes', () => {
    expect(encodeFrame({ opcode: 1, payload: Buffer.from('Hello') }).toString('hex')).toBe('810548656c6c6f');
    expect(encodeFrame({ opcode: 1, payload: Buffer.from('Hello'), mask: hex('37fa213d') }).toString('hex')).toBe('818537fa213d7f9f4d5158');
    expect(encodeFrame({ opcode: 1, fin: false, payload: Buffer.from('Hel') }).toString('hex')).toBe('010348656c');
    expect(encodeFrame({ opcode: 2, payload: Buffer.alloc(256) }).subarray(0, 4).toString('hex')).toBe('827e0100');
    expect(encodeFrame({ opcode: 2, payload: Buffer.alloc(65536) }).subarray(0, 10).toString('hex')).toBe('827f0000000000010000');
  });

  it('forces length forms and lies about the length when asked', () => {
    expect(encodeFrame({ opcode: 2, payload: hex('6162'), lengthForm: 16 }).toString('hex')).toBe('827e00026162');
    expect(encodeFrame({ opcode: 2, payload: hex('6162'), lengthForm: 64 }).toString('hex')).toBe('827f00000000000000026162');
    expect(encodeFrame({ opcode: 2, declaredLength: 2n ** 63n }).toString('hex')).toBe('827f8000000000000000');
    expect(encodeFrame({ opcode: 2, payload: hex('61'), declaredLength: 5 }).toString('hex')).toBe('820561');
    expect(encodeFrame({ opcode: 0xb, rsv1: true, rsv2: true, rsv3: true, fin: false }).toString('hex')).toBe('7b00');
    expect(() => encodeFrame({ opcode: 2, payload: Buffer.alloc(200), lengthForm: 7 })).toThrow(RangeError);
  });

  it('never masks the caller\'s payload in place', () => {
    const payload = Buffer.from('abcdef');
    encodeFrame({ opcode: 2, payload, mask: hex('01020304') });
    expect(payload.toString()).toBe('abcdef');
  });

  it('encodes close bodies', () => {
    expect(encodeClosePayload(null).length).toBe(0);
    expect(encodeClosePayload(1000, 'bye').toString('hex')).toBe('03e8627965');
  });
});

describe('MessageCompressor', () => {
  it('compresses as RFC 7692 §7.2.3.1-2 show, the window shared between messages', async () => {
    const compressor = new MessageCompressor({ noContextTakeover: false });
    expect((await compressor.compress(Buffer.from('Hello'))).toString('hex')).toBe('f248cdc9c90700');
    expect((await compressor.compress(Buffer.from('Hello'))).toString('hex')).toBe('f200110000');
    compressor.close();
  });

  it('starts each message afresh without context takeover', async () => {
    const compressor = new MessageCompressor({ noContextTakeover: true });
    expect((await compressor.compress(Buffer.from('Hello'))).toString('hex')).toBe('f248cdc9c90700');
    expect((await compressor.compress(Buffer.from('Hello'))).toString('hex')).toBe('f248cdc9c90700');
    compressor.close();
  });
});

interface RandomFrame {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
  readonly mask: Buffer | null;
  readonly lengthForm: 'minimal' | 16 | 64;
}

describe('round trip: encodeFrame → FrameDecoder', () => {
  it('decodes 3000 random frames (all length forms, masks, fragments) to what was encoded, in random chunks', () => {
    const rand = prng(1234);
    const specs: RandomFrame[] = [];
    for (let i = 0; i < 3000; i++) {
      const sizes = [0, 1, 125, 126, 127, 65535, 65536, Math.floor(rand() * 300)];
      const size = sizes[Math.floor(rand() * sizes.length)]!;
      const control = rand() < 0.2;
      const payload = Buffer.alloc(control ? Math.min(size, 125) : size);
      const seed = Math.floor(rand() * 256);
      for (let b = 0; b < payload.length; b++) payload[b] = (seed + b * 31 + (b >> 8)) & 0xff;
      const forms: Array<'minimal' | 16 | 64> = payload.length <= 0xffff ? ['minimal', 16, 64] : ['minimal', 64];
      specs.push({
        fin: control || rand() < 0.7,
        rsv1: !control && rand() < 0.3,
        opcode: control ? [8, 9, 10][Math.floor(rand() * 3)]! : [0, 1, 2][Math.floor(rand() * 3)]!,
        payload,
        mask: rand() < 0.5 ? Buffer.from([rand() * 256, rand() * 256, rand() * 256, rand() * 256]) : null,
        lengthForm: forms[Math.floor(rand() * forms.length)]!,
      });
    }
    const stream = Buffer.concat(specs.map((s) => encodeFrame(s)));
    const decoder = new FrameDecoder({ from: 'client', maxPayload: 1 << 20, deflate: true });
    const events: DecodeEvent[] = [];
    for (let at = 0; at < stream.length; ) {
      const step = 1 + Math.floor(rand() * 9000);
      events.push(...decoder.push(stream.subarray(at, at + step)));
      at += step;
    }
    const frames: Array<{ header: FrameHeader; payload: Buffer }> = [];
    let pieces: Buffer[] = [];
    let current: FrameHeader | null = null;
    for (const e of events) {
      if (e.kind === 'header') {
        current = e;
        pieces = [];
      } else if (e.kind === 'payload') pieces.push(e.data);
      else if (e.kind === 'frame-end') frames.push({ header: current!, payload: Buffer.concat(pieces) });
    }
    expect(frames.length).toBe(specs.length);
    let offset = 0;
    const expected: string[] = [];
    const actual: string[] = [];
    specs.forEach((spec, i) => {
      const { header, payload } = frames[i]!;
      const mask = spec.mask ? spec.mask.readUInt32BE(0) : null;
      expected.push(`${i}@${offset} fin=${spec.fin} rsv1=${spec.rsv1} op=${spec.opcode} mask=${mask} len=${spec.payload.length} ${showBytes(spec.payload)}`);
      actual.push(`${i}@${header.offset} fin=${header.fin} rsv1=${header.rsv1} op=${header.opcode} mask=${header.maskKey} len=${header.length} ${showBytes(payload)}`);
      offset += encodeFrame(spec).length;
    });
    expect(actual).toEqual(expected);
  });

  it('round-trips compressed messages, fragmented, with and without context takeover', async () => {
    const rand = prng(99);
    for (const takeover of [true, false]) {
      const compressor = new MessageCompressor({ noContextTakeover: !takeover });
      const texts: string[] = [];
      const chunks: Buffer[] = [];
      for (let m = 0; m < 40; m++) {
        const text = `message ${m} ${'xyz'.repeat(Math.floor(rand() * 400))} é€𝄞`;
        texts.push(text);
        const compressed = await compressor.compress(Buffer.from(text));
        const cut = Math.floor(rand() * compressed.length);
        const mask = Buffer.from([m, 1, 2, 3]);
        if (rand() < 0.5) chunks.push(encodeFrame({ opcode: 1, rsv1: true, payload: compressed, mask }));
        else {
          chunks.push(encodeFrame({ opcode: 1, rsv1: true, fin: false, payload: compressed.subarray(0, cut), mask }));
          chunks.push(encodeFrame({ opcode: 9, payload: Buffer.from('p'), mask }));
          chunks.push(encodeFrame({ opcode: 0, payload: compressed.subarray(cut), mask }));
        }
      }
      compressor.close();
      const events = await inspect(chunks, { from: 'client', deflate: takeover ? DEFLATE_TAKEOVER : DEFLATE_NO_TAKEOVER });
      const messages = events.filter((e) => e.kind === 'message');
      expect(events.filter((e) => e.kind === 'violation')).toEqual([]);
      expect(messages.map((m) => (m.kind === 'message' ? m.data.toString('utf8') : ''))).toEqual(texts);
      expect(messages.every((m) => m.kind === 'message' && m.compressed && m.utf8Valid)).toBe(true);
    }
  });
});
