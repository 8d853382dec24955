/**
 * Property: whatever the chunking, the fragmentation, the control frames in between and the mix
 * of actions, a ws Receiver on the other side gets exactly the messages the actions say, in order,
 * with and without permessage-deflate context takeover.
 */
import { describe, expect, it } from 'vitest';
import { encodeFrame, MessageCompressor } from '../../src/protocol/frame-encoder.js';
import type { Step } from '../../src/gate/actions.js';
import { GateHarness, TestPolicy } from './gate-harness.js';
import { receive } from './ws-receiver.js';
import { prng } from '../protocol/helpers.js';


const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];

describe('DirectionGate property', () => {
  for (const deflate of [false, true]) {
    for (const from of ['client', 'server'] as const) {
      it(`random streams and actions (${from}, ${deflate ? 'deflate with context takeover' : 'no deflate'})`, async () => {
        for (let seed = 1; seed <= 25; seed++) {
          const rnd = prng(seed * 7919 + (deflate ? 1 : 0) + (from === 'client' ? 2 : 0));
          const compressor = deflate ? new MessageCompressor({ noContextTakeover: false }) : null;
          const mask = (): Buffer | null => (from === 'client' ? Buffer.from([rnd() * 256, rnd() * 256, rnd() * 256, rnd() * 256]) : null);
          const texts: string[] = [];
          const frames: Buffer[] = [];
          const count = 3 + Math.floor(rnd() * 8);
          for (let i = 0; i < count; i++) {
            const text = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => WORDS[Math.floor(rnd() * WORDS.length)]).join(' ');
            texts.push(text);
            const compress = compressor !== null && rnd() < 0.8;
            const payload = compress ? await compressor!.compress(Buffer.from(text)) : Buffer.from(text);
            const parts = 1 + Math.floor(rnd() * 3);
            const size = Math.ceil(payload.length / parts);
            for (let p = 0; p < parts; p++) {
              frames.push(encodeFrame({ opcode: p === 0 ? 1 : 0, fin: p === parts - 1, rsv1: compress && p === 0, payload: payload.subarray(p * size, (p + 1) * size), mask: mask() }));
              if (rnd() < 0.2) frames.push(encodeFrame({ opcode: 9, payload: Buffer.from('hb'), mask: mask() }));
            }
          }
          compressor?.close();
          const plan: Array<'forward' | 'drop' | 'edit' | 'duplicate' | 'fragment'> = texts.map(() => (['forward', 'drop', 'edit', 'duplicate', 'fragment'] as const)[Math.floor(rnd() * 5)]!);
          const expected: string[] = [];
          plan.forEach((p, i) => {
            if (p === 'drop') return;
            if (p === 'edit') expected.push(`edited ${i}`);
            else expected.push(texts[i]!);
            if (p === 'duplicate') expected.push(texts[i]!);
          });
          const policy = new TestPolicy((v): Step[] => {
            const p = plan[v.index]!;
            expect(v.text).toBe(texts[v.index]);
            if (p === 'forward') return [];
            if (p === 'edit') return [{ kind: 'edit', message: { opcode: 1, data: Buffer.from(`edited ${v.index}`) }, by: 'rule' }];
            if (p === 'fragment') return [{ kind: 'fragment', frames: 3, by: 'fault' }];
            return [{ kind: p, by: 'fault' }];
          });
          const h = new GateHarness({ from, policy, deflate: deflate ? { noContextTakeover: false, maxWindowBits: 15 } : null });
          const stream = Buffer.concat(frames);
          let at = 0;
          while (at < stream.length) {
            const n = 1 + Math.floor(rnd() * 40);
            h.push(stream.subarray(at, at + n));
            at += n;
          }
          await h.end();
          const got = (await receive(h.output, from, deflate)).filter((r) => r.kind !== 'ping');
          expect(got.map((r) => (r.kind === 'message' ? r.data.toString() : `${r.kind}`)), `seed ${seed}`).toEqual(expected);
          expect(h.drained).toBe(true);
        }
      });
    }
  }
});

describe('DirectionGate on random input', () => {
  it('never throws; with nothing changed the receiver gets exactly the bytes sent, whatever they are (ping and pong aside)', async () => {
    for (let seed = 1; seed <= 1000; seed++) {
      const rnd = prng(seed);
      const from = rnd() < 0.5 ? 'client' : 'server';
      // Mostly valid frames with random damage, so parsing gets some way before it breaks.
      const pieces: Buffer[] = [];
      const n = 1 + Math.floor(rnd() * 6);
      for (let i = 0; i < n; i++) {
        const payload = Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
        // No ping or pong: those go ahead of a message in progress by design (the property above covers them).
        const opcode = [0, 1, 2, 8, 3, 11][Math.floor(rnd() * 6)]!;
        let f = encodeFrame({ opcode, fin: rnd() < 0.8, rsv1: rnd() < 0.1, payload: opcode >= 8 ? payload.subarray(0, 100) : payload, mask: (from === 'client') !== rnd() < 0.05 ? Buffer.from([1, 2, 3, 4]) : null });
        if (rnd() < 0.1) {
          f = Buffer.from(f);
          f[Math.floor(rnd() * f.length)] = Math.floor(rnd() * 256);
        }
        pieces.push(f);
      }
      if (rnd() < 0.2) pieces.push(Buffer.from(Array.from({ length: 50 }, () => Math.floor(rnd() * 256))));
      const stream = Buffer.concat(pieces);
      const h = new GateHarness({ from, policy: new TestPolicy(), deflate: rnd() < 0.3 ? { noContextTakeover: false, maxWindowBits: 15 } : null });
      let at = 0;
      while (at < stream.length) {
        const k = 1 + Math.floor(rnd() * 64);
        h.push(stream.subarray(at, at + k));
        at += k;
      }
      await h.end();
      expect(h.output.equals(stream), `seed ${seed}`).toBe(true);
      expect(h.drained, `seed ${seed}`).toBe(true);
    }
  });
});
