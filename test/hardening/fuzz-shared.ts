/**
 * Issue 7, "Hostile peers": seeded random bytes from both sides after the upgrade, through the real
 * proxy, 10^4 connections in all, split over two test files (fuzz.test.ts, fuzz-more.test.ts) so
 * the two halves run in parallel. Half the streams are pure noise, half frames with random header
 * bits, lengths, masks and RSV1, some with permessage-deflate negotiated; each peer ends in a random
 * way (FIN, destroy, RST). No crash, no unhandled rejection, exactly one `open` and one `end` per
 * connection, and where both peers end politely every byte relayed untouched. A failure names the
 * seed that reproduces it (`FRAMETAP_FUZZ_SEED` moves the whole range).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanup, fuzzThroughProxy, waitFor } from '../helpers/hostile.js';

const CONNECTIONS = 5000;

/** One half of the fuzz: `CONNECTIONS` connections from seed base + `seedOffset`. */
export function describeFuzzHalf(seedOffset: number): void {
  const seed = Number(process.env.FRAMETAP_FUZZ_SEED ?? 20261125) + seedOffset;
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  describe('seeded fuzz through the real proxy', () => {
    it(`${CONNECTIONS} connections of random bytes from both sides (seeds ${seed}…)`, async () => {
      const { pt, identical, failures } = await fuzzThroughProxy(seed, CONNECTIONS, 48, cleanup);
      expect(failures).toEqual([]);
      await waitFor(() => pt.ends.size === CONNECTIONS, 15_000, `an end for every connection (have ${pt.ends.size})`);
      expect(pt.opens.size).toBe(CONNECTIONS);
      expect([...pt.opens.values()].every((n) => n === 1)).toBe(true);
      expect([...pt.ends.values()].every((n) => n === 1)).toBe(true);
      expect(pt.sinkErrors).toEqual([]);
      expect(pt.proxy.openConnections).toBe(0);
      expect(identical).toBeGreaterThan(CONNECTIONS / 8);
    }, 180_000);
  });
}
