/**
 * The shared bound on concurrent inflates: first come first served, every message still inflates
 * right, and no slot is ever lost — not on an inflate error, not when a direction is disposed while
 * its writes wait or run.
 */
import { describe, expect, it } from 'vitest';
import { InflateLimiter } from '../../src/protocol/inflate-limiter.js';
import { DirectionInspector } from '../../src/protocol/direction-inspector.js';
import { encodeFrame, MessageCompressor } from '../../src/protocol/frame-encoder.js';
import type { WireEvent } from '../../src/protocol/wire-events.js';
import { DEFLATE_TAKEOVER } from './helpers.js';

describe('InflateLimiter', () => {
  it('runs at most `concurrency` at once and serves waiters in arrival order', () => {
    const limiter = new InflateLimiter(2);
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) limiter.acquire(() => ran.push(i));
    expect(ran).toEqual([0, 1]);
    expect(limiter.queued).toBe(3);
    limiter.release();
    expect(ran).toEqual([0, 1, 2]);
    limiter.release();
    limiter.release();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    limiter.release();
    limiter.release();
    expect(limiter.active).toBe(0);
    expect(limiter.stats).toMatchObject({ operations: 5, waited: 3, maxQueued: 3 });
  });
});

async function compressedText(texts: readonly string[]): Promise<Buffer> {
  const c = new MessageCompressor({ noContextTakeover: false });
  const frames: Buffer[] = [];
  for (const t of texts) frames.push(encodeFrame({ opcode: 1, rsv1: true, payload: await c.compress(Buffer.from(t)) }));
  c.close();
  return Buffer.concat(frames);
}

function until(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const tick = (): void => (check() ? resolve() : void setTimeout(tick, 5));
    tick();
  });
}

describe('inflates under a shared limiter', () => {
  it('twenty directions through one slot: every message inflates to its text, in order, and the slot comes back', async () => {
    const limiter = new InflateLimiter(1);
    const texts = (d: number): string[] => Array.from({ length: 6 }, (_, i) => `direction ${d} message ${i} `.repeat(2000));
    const got: string[][] = [];
    const inspectors: DirectionInspector[] = [];
    for (let d = 0; d < 20; d++) {
      const out: string[] = [];
      got.push(out);
      const inspector = new DirectionInspector({
        from: 'server',
        maxPayload: 1 << 20,
        deflate: DEFLATE_TAKEOVER,
        inflateLimiter: limiter,
        onEvent: (e: WireEvent) => {
          if (e.kind === 'message') out.push(e.data.toString());
        },
      });
      inspectors.push(inspector);
      const bytes = await compressedText(texts(d));
      for (let at = 0; at < bytes.length; at += 1500) inspector.push(bytes.subarray(at, at + 1500), at);
    }
    await Promise.all(inspectors.map((i, n) => i.end(1e9 + n)));
    for (let d = 0; d < 20; d++) expect(got[d]).toEqual(texts(d));
    expect(limiter.stats.waited).toBeGreaterThan(0);
    expect(limiter.active).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('an inflate error and a direction disposed mid-inflate give their slots back', async () => {
    const limiter = new InflateLimiter(1);
    const events: WireEvent[] = [];
    const broken = new DirectionInspector({ from: 'server', maxPayload: 1024, deflate: DEFLATE_TAKEOVER, inflateLimiter: limiter, onEvent: (e) => events.push(e) });
    // Not DEFLATE data: zlib fails.
    broken.push(encodeFrame({ opcode: 1, rsv1: true, payload: Buffer.from('this is not deflate data at all') }), 1);
    const gone = new DirectionInspector({ from: 'server', maxPayload: 1024, deflate: DEFLATE_TAKEOVER, inflateLimiter: limiter, onEvent: () => {} });
    gone.push(await compressedText(['x'.repeat(100_000)]), 2);
    gone.dispose();
    const ok: string[] = [];
    const later = new DirectionInspector({ from: 'server', maxPayload: 1 << 20, deflate: DEFLATE_TAKEOVER, inflateLimiter: limiter, onEvent: (e) => e.kind === 'message' && ok.push(e.data.toString()) });
    later.push(await compressedText(['after']), 3);
    await broken.end(4);
    await later.end(5);
    expect(events.some((e) => e.kind === 'violation' && e.rule === 'inflate-failed')).toBe(true);
    expect(ok).toEqual(['after']);
    await until(() => limiter.active === 0);
    expect(limiter.queued).toBe(0);
  });
});
