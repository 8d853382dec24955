/**
 * protobuf-raw's quick scan (fieldsBeforeFailure) only skips nested parses that would fail, and
 * spends the same budget they would: checked against the real parse on random and near-valid bytes.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/appproto/limits.js';
import { fieldsBeforeFailure, notAMessage, parseRawMessage } from '../../src/appproto/protobuf-raw.js';
import { DecodeStop } from '../../src/appproto/types.js';

/** A tiny deterministic PRNG (xorshift32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function failure(bytes: Uint8Array, maxItems: number): string | null {
  try {
    parseRawMessage(bytes, { ...DEFAULT_LIMITS, maxItems });
    return null;
  } catch (error) {
    if (!(error instanceof DecodeStop)) throw error;
    return error.reason;
  }
}

describe('protobuf-raw quick scan', () => {
  it('says "fails after k fields" only when the real parse fails there, spending k items', () => {
    const r = rng(7);
    let decided = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = 1 + Math.floor(r() * 24);
      const bytes = new Uint8Array(n);
      // Half the cases from valid-looking keys (field 1-15, wire 0/1/2/5) so scans go deep.
      for (let j = 0; j < n; j++) bytes[j] = r() < 0.5 ? ((1 + Math.floor(r() * 15)) << 3) | [0, 1, 2, 5][Math.floor(r() * 4)]! : Math.floor(r() * 256);
      const k = fieldsBeforeFailure(bytes);
      if (k < 0) continue;
      decided++;
      expect(k).toBeGreaterThan(0);
      // With exactly k items the parse fails for its own reason; with one fewer, on the budget.
      const own = failure(bytes, k);
      expect(own).not.toBeNull();
      expect(own).not.toMatch(/more than|deeper than/);
      if (k > 1) expect(failure(bytes, k - 1)).toMatch(/more than/);
    }
    expect(decided).toBeGreaterThan(1000);
  });

  it('a payload of one repeated byte still decodes as before (fields of text), or fails where it did', () => {
    // "Z" is field 11, length-delimited, 90 bytes long: 92 bytes a field.
    const r = parseRawMessage(new Uint8Array(92 * 44).fill(0x5a));
    expect(r).toHaveLength(44);
    expect(r[0]).toEqual({ field: 11, wire: 'len', bytes: new Uint8Array(90).fill(0x5a), text: 'Z'.repeat(90) });
    expect(failure(new Uint8Array(4096).fill(0x5a), DEFAULT_LIMITS.maxItems)).toBe('field 11 at byte 4048 claims 90 bytes, 46 left');
  });

  it('"not a message" only for bytes that fail to parse', () => {
    const r = rng(11);
    let rejected = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = 1 + Math.floor(r() * 40);
      const bytes = new Uint8Array(n);
      for (let j = 0; j < n; j++) bytes[j] = r() < 0.6 ? ((1 + Math.floor(r() * 15)) << 3) | [0, 1, 2, 5][Math.floor(r() * 4)]! : Math.floor(r() * 256);
      if (!notAMessage(bytes)) continue;
      rejected++;
      expect(failure(bytes, DEFAULT_LIMITS.maxItems)).not.toBeNull();
    }
    expect(rejected).toBeGreaterThan(1000);
    expect(notAMessage(new Uint8Array(4096).fill(0x5a))).toBe(true);
    expect(notAMessage(new Uint8Array(92 * 44).fill(0x5a))).toBe(false);
  });
});
