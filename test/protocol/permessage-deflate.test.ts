import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import rfc7692 from '../../fixtures/vectors/rfc7692-7.2.3.json' with { type: 'json' };
import { encodeFrame, MessageCompressor } from '../../src/protocol/frame-encoder.js';
import { MessageInflater, negotiateDeflate, type InflateResult } from '../../src/protocol/permessage-deflate.js';
import { parseExtensionHeader } from '../../src/protocol/handshake.js';
import { bytesOf, DEFLATE_NO_TAKEOVER, DEFLATE_TAKEOVER, hex, inspect, inspectSummary, splits, summarize, type Segment } from './helpers.js';

interface Vector {
  readonly name: string;
  readonly takeover: boolean;
  readonly bytes: Segment[];
  readonly events: string[];
}

describe('RFC 7692 §7.2.3 examples', () => {
  for (const vector of rfc7692.vectors as Vector[]) {
    it(`${vector.name}: whole, at every split point and one byte at a time`, async () => {
      const deflate = vector.takeover ? DEFLATE_TAKEOVER : DEFLATE_NO_TAKEOVER;
      const data = bytesOf(vector.bytes);
      expect(await inspectSummary([data], { from: 'server', deflate })).toEqual(vector.events);
      // Also as the frames arrived (one chunk per frame), then every split.
      expect(await inspectSummary(vector.bytes.map((s) => bytesOf([s])), { from: 'server', deflate })).toEqual(vector.events);
      for (const chunks of splits(data)) {
        expect(await inspectSummary(chunks, { from: 'server', deflate }), `chunks ${chunks.map((c) => c.length).join('+')}`).toEqual(vector.events);
      }
    });
  }
});

function offer(value: string) {
  return parseExtensionHeader(value);
}

describe('negotiateDeflate (RFC 7692 §7.1)', () => {
  it('reads the answer: server_* govern server→client, client_* client→server', () => {
    const result = negotiateDeflate(
      offer('permessage-deflate; client_max_window_bits; server_no_context_takeover'),
      offer('permessage-deflate; client_max_window_bits="10"; server_no_context_takeover; server_max_window_bits=12'),
    );
    expect(result.problems).toEqual([]);
    expect(result.deflate).toEqual({
      client: { noContextTakeover: false, maxWindowBits: 10 },
      server: { noContextTakeover: true, maxWindowBits: 12 },
    });
  });

  it('defaults to context takeover and 15-bit windows', () => {
    const result = negotiateDeflate(offer('permessage-deflate'), offer('permessage-deflate; client_no_context_takeover'));
    expect(result.deflate).toEqual({
      client: { noContextTakeover: true, maxWindowBits: 15 },
      server: { noContextTakeover: false, maxWindowBits: 15 },
    });
    expect(negotiateDeflate(offer('permessage-deflate'), offer('x-webkit-deflate-frame')).deflate).toBeNull();
  });

  it('lists answers RFC 7692 does not allow', () => {
    const cases: Array<[string, string, string]> = [
      ['permessage-deflate', 'permessage-deflate; client_max_window_bits=10', 'client_max_window_bits in the answer but not in the offer'],
      ['permessage-deflate; client_max_window_bits', 'permessage-deflate; client_max_window_bits', 'client_max_window_bits=(no value) is not an integer 8..15'],
      ['permessage-deflate', 'permessage-deflate; server_max_window_bits=16', 'server_max_window_bits=16 is not an integer 8..15'],
      ['permessage-deflate', 'permessage-deflate; server_max_window_bits=09', 'server_max_window_bits=09 is not an integer 8..15'],
      ['permessage-deflate', 'permessage-deflate; server_no_context_takeover=1', 'server_no_context_takeover must have no value'],
      ['permessage-deflate', 'permessage-deflate; foo', 'unknown parameter foo'],
      ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate', 'server_max_window_bits=10 offered but not in the answer'],
      ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=12', 'server_max_window_bits=12 is above the offered 10'],
      ['permessage-deflate', 'permessage-deflate, permessage-deflate', '2 permessage-deflate elements in the answer'],
    ];
    for (const [offered, answered, problem] of cases) {
      expect(negotiateDeflate(offer(offered), offer(answered)).problems, `${offered} / ${answered}`).toContain(problem);
    }
  });

  it('accepts an answer that fits any one of several offers', () => {
    const result = negotiateDeflate(
      offer('permessage-deflate; server_max_window_bits=10, permessage-deflate'),
      offer('permessage-deflate'),
    );
    expect(result.problems).toEqual([]);
  });
});

function inflateOne(inflater: MessageInflater, pieces: Buffer[], text: boolean): Promise<InflateResult> {
  return new Promise((resolve) => {
    inflater.begin(text);
    for (const p of pieces) inflater.write(p);
    inflater.finish(resolve);
  });
}

describe('MessageInflater', () => {
  it('inflates a bomb fully but keeps only maxPayload bytes', async () => {
    const original = Buffer.alloc(32 * 1024 * 1024);
    const compressed = zlib.deflateRawSync(original, { level: 9 });
    expect(compressed.length).toBeLessThan(64 * 1024);
    const inflater = new MessageInflater({ noContextTakeover: false, maxPayload: 1024 });
    const result = await inflateOne(inflater, [compressed], false);
    expect(result.error).toBeNull();
    expect(result.length).toBe(original.length);
    expect(result.data.length).toBe(1024);
    inflater.close();
  });

  it('reports corrupt data and recovers for the next message', async () => {
    const inflater = new MessageInflater({ noContextTakeover: true, maxPayload: 1024 });
    const bad = await inflateOne(inflater, [hex('ff ff ff')], true);
    expect(bad.error).not.toBeNull();
    const good = await inflateOne(inflater, [hex('f2 48 cd c9 c9 07 00')], true);
    expect(good).toMatchObject({ error: null, length: 5, utf8Valid: true });
    expect(good.data.toString()).toBe('Hello');
    inflater.close();
  });

  it('judges UTF-8 on every inflated byte, kept or not', async () => {
    const inflater = new MessageInflater({ noContextTakeover: true, maxPayload: 4 });
    const payload = Buffer.concat([Buffer.from('a'.repeat(5000)), hex('ff')]);
    const compressed = zlib.deflateRawSync(payload);
    const result = await inflateOne(inflater, [compressed], true);
    expect(result).toMatchObject({ error: null, length: 5001, utf8Valid: false });
    inflater.close();
  });
});

describe('compressed traffic through the inspector', () => {
  it('a message that does not inflate is inflate-failed and later messages are still shown', async () => {
    const compressor = new MessageCompressor({ noContextTakeover: true });
    const good = await compressor.compress(Buffer.from('after'));
    compressor.close();
    const lines = await inspectSummary(
      [encodeFrame({ opcode: 1, rsv1: true, payload: hex('ff ee dd') }), encodeFrame({ opcode: 1, rsv1: true, payload: good })],
      { from: 'server', deflate: DEFLATE_NO_TAKEOVER },
    );
    expect(lines).toEqual([
      'frame@0 F1-- op=1 unmasked len=3 payload=ffeedd',
      'violation inflate-failed 1007 @0',
      'message op=1 compressed frames=1 len=0 text=""',
      `frame@5 F1-- op=1 unmasked len=${good.length} payload=${good.toString('hex')}`,
      'message op=1 compressed frames=1 len=5 text="after"',
    ]);
  });

  it('keeps stream order: a frame after a compressed message waits for its inflate', async () => {
    const compressor = new MessageCompressor({ noContextTakeover: false });
    const big = Buffer.alloc(200_000, 0x61);
    const compressed = await compressor.compress(big);
    compressor.close();
    const events = await inspect(
      [Buffer.concat([encodeFrame({ opcode: 2, rsv1: true, payload: compressed }), encodeFrame({ opcode: 9, payload: hex('01') }), encodeFrame({ opcode: 2, payload: hex('02') })])],
      { from: 'server', deflate: DEFLATE_TAKEOVER, maxPayload: 100 },
    );
    expect(events.map((e) => e.kind)).toEqual(['frame', 'message', 'frame', 'frame', 'message']);
    expect(events[1]).toMatchObject({ kind: 'message', compressed: true, length: 200_000, truncated: true });
    expect(summarize(events[4]!)).toBe('message op=2 frames=1 len=1 data=02');
  });

  it('inflates control frames interleaved in a fragmented compressed message in order', async () => {
    const lines = await inspectSummary(
      [hex('41 03 f2 48 cd'), hex('89 01 70'), hex('80 04 c9 c9 07 00')],
      { from: 'server', deflate: DEFLATE_TAKEOVER },
    );
    expect(lines).toEqual([
      'frame@0 -1-- op=1 unmasked len=3 payload=f248cd',
      'frame@5 F--- op=9 unmasked len=1 payload=70',
      'frame@8 F--- op=0 unmasked len=4 payload=c9c90700',
      'message op=1 compressed frames=2 len=5 text="Hello"',
    ]);
  });
});
