import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { encodeClosePayload, encodeFrame } from '../../src/protocol/frame-encoder.js';
import { MessageAssembler } from '../../src/protocol/message-assembler.js';
import type { WireEvent } from '../../src/protocol/wire-events.js';
import { hex, summarize } from './helpers.js';

/** Decoder → assembler, one push per chunk, as the inspector does. */
async function assemble(chunks: Buffer[], maxPayload = 1024): Promise<string[]> {
  const events: WireEvent[] = [];
  const decoder = new FrameDecoder({ from: 'server', maxPayload, deflate: false });
  const assembler = new MessageAssembler({ maxPayload, deflate: null, onEvent: (e) => events.push(e) });
  chunks.forEach((c, i) => assembler.handle(decoder.push(c), i));
  await assembler.whenIdle();
  return events.map(summarize);
}

const text = (payload: string | Buffer, fin = true, opcode = 1): Buffer =>
  encodeFrame({ opcode, fin, payload: typeof payload === 'string' ? Buffer.from(payload) : payload });

describe('MessageAssembler', () => {
  it('joins continuations and lets control frames interleave (RFC 6455 §5.4)', async () => {
    expect(await assemble([text('He', false), encodeFrame({ opcode: 9, payload: hex('01') }), text('ll', false, 0), text('o', true, 0)])).toEqual([
      'frame@0 ---- op=1 unmasked len=2 payload=4865',
      'frame@4 F--- op=9 unmasked len=1 payload=01',
      'frame@7 ---- op=0 unmasked len=2 payload=6c6c',
      'frame@11 F--- op=0 unmasked len=1 payload=6f',
      'message op=1 frames=3 len=5 text="Hello"',
    ]);
  });

  it('accepts a character split between fragments (UTF-8 across frames)', async () => {
    const euro = Buffer.from('€', 'utf8');
    const lines = await assemble([text(euro.subarray(0, 1), false), text(euro.subarray(1, 2), false, 0), text(euro.subarray(2), true, 0)]);
    expect(lines.at(-1)).toBe('message op=1 frames=3 len=3 text="€"');
    expect(lines.some((l) => l.startsWith('violation'))).toBe(false);
  });

  it('reports invalid UTF-8 before the message, which carries the raw bytes', async () => {
    expect(await assemble([text(hex('48 ed a0 80'))])).toEqual([
      'frame@0 F--- op=1 unmasked len=4 payload=48eda080',
      'violation invalid-utf8 1007 @0',
      'message op=1 frames=1 len=4 data=48eda080 utf8-invalid',
    ]);
  });

  it('parses close bodies (RFC 6455 §5.5.1)', async () => {
    expect(await assemble([encodeFrame({ opcode: 8 })])).toEqual(['frame@0 F--- op=8 unmasked len=0 payload=', 'close code=null reason=""']);
    expect(await assemble([encodeFrame({ opcode: 8, payload: encodeClosePayload(1001, 'going away') })])).toEqual([
      `frame@0 F--- op=8 unmasked len=12 payload=${encodeClosePayload(1001, 'going away').toString('hex')}`,
      'close code=1001 reason="going away"',
    ]);
    expect(await assemble([encodeFrame({ opcode: 8, payload: encodeClosePayload(4999, '') })])).toEqual(['frame@0 F--- op=8 unmasked len=2 payload=1387', 'close code=4999 reason=""']);
  });

  it('reports close-body violations after the frame and before the close', async () => {
    expect(await assemble([encodeFrame({ opcode: 8, payload: hex('03 ee c3 28') })])).toEqual([
      'frame@0 F--- op=8 unmasked len=4 payload=03eec328',
      'violation invalid-close-code 1002 @0',
      'violation invalid-close-reason 1007 @0',
      `close code=1006 reason=${JSON.stringify(hex('c3 28').toString('utf8'))}`,
    ]);
  });

  it('keeps maxPayload bytes per frame and per message, counting the true lengths', async () => {
    expect(await assemble([text('abcdef', false, 2), text('ghij', true, 0)], 4)).toEqual([
      'frame@0 ---- op=2 unmasked len=6 payload=61626364 truncated',
      'frame@8 F--- op=0 unmasked len=4 payload=6768696a',
      'message op=2 frames=2 len=10 data=61626364 truncated',
    ]);
  });

  it('drops a message interrupted by a new one (expected-continuation) and keeps the new one', async () => {
    expect(await assemble([text('ab', false), text('cd', true, 2)])).toEqual([
      'frame@0 ---- op=1 unmasked len=2 payload=6162',
      'violation expected-continuation 1002 @4',
      'frame@4 F--- op=2 unmasked len=2 payload=6364 violated',
      'message op=2 frames=1 len=2 data=6364',
    ]);
  });

  it('hands on the decoder\'s header record itself, not a copy, and takes a message\'s opcode from its headers', async () => {
    const events: WireEvent[] = [];
    const decoder = new FrameDecoder({ from: 'server', maxPayload: 1024, deflate: false });
    const assembler = new MessageAssembler({ maxPayload: 1024, deflate: null, onEvent: (e) => events.push(e) });
    const decoded = [...decoder.push(text('ab', false)), ...decoder.push(encodeFrame({ opcode: 9 })), ...decoder.push(text('c', true, 0))];
    assembler.handle(decoded, 0);
    await assembler.whenIdle();
    const headers = decoded.filter((e) => e.kind === 'header');
    const frames = events.filter((e) => e.kind === 'frame');
    expect(frames.map((f) => f.header)).toEqual(headers);
    frames.forEach((f, i) => expect(f.header).toBe(headers[i]));
    // The continuation's header names the message it belongs to (the decoder's one record of it).
    expect(headers.map((h) => [h.opcode, h.message, h.startsMessage])).toEqual([[1, 1, true], [9, 0, false], [0, 1, false]]);
    expect(events.filter((e) => e.kind === 'message').map(summarize)).toEqual(['message op=1 frames=2 len=3 text="abc"']);
  });

  it('does nothing after dispose', async () => {
    const events: WireEvent[] = [];
    const decoder = new FrameDecoder({ from: 'server', maxPayload: 10, deflate: false });
    const assembler = new MessageAssembler({ maxPayload: 10, deflate: null, onEvent: (e) => events.push(e) });
    assembler.dispose();
    assembler.handle(decoder.push(text('x')), 0);
    await assembler.whenIdle();
    expect(events).toEqual([]);
  });
});
