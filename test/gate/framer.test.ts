import { describe, expect, it } from 'vitest';
import { closeParts, controlParts, messageParts, randomMaskKeys, truncateUtf8 } from '../../src/gate/framer.js';
import { encodeFrame, encodeFrameHeader, frameParts } from '../../src/protocol/frame-encoder.js';
import { FrameDecoder, type FrameHeader } from '../../src/protocol/frame-decoder.js';
import { receive } from './ws-receiver.js';

const fixedKey = () => Buffer.from('37fa213d', 'hex');

describe('frameParts / encodeFrameHeader', async () => {
  it('gives the RFC 6455 §5.7 bytes as header and payload parts', async () => {
    const [h, p] = frameParts(Buffer.from('Hello'), { fin: true, rsv1: false, opcode: 1, mask: Buffer.from('37fa213d', 'hex') });
    expect(Buffer.concat([h, p]).toString('hex')).toBe('818537fa213d7f9f4d5158');
    const [h2, p2] = frameParts(Buffer.from('Hel'), { fin: false, rsv1: false, opcode: 1, mask: null });
    expect(Buffer.concat([h2, p2]).toString('hex')).toBe('010348656c');
  });

  it('agrees with encodeFrame at every length form', async () => {
    for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
      const payload = Buffer.alloc(n, 0x5a);
      for (const mask of [null, Buffer.from('01020304', 'hex')]) {
        expect(Buffer.concat(frameParts(payload, { fin: true, rsv1: n % 2 === 0, opcode: 2, mask }))).toEqual(
          encodeFrame({ opcode: 2, payload, mask, rsv1: n % 2 === 0 }),
        );
      }
    }
    expect(() => encodeFrameHeader({ fin: true, rsv1: false, opcode: 1, mask: null, length: -1 })).toThrow(RangeError);
  });

  it('never changes the caller\'s payload; unmasked frames share it', async () => {
    const payload = Buffer.from('abcdef');
    const [, masked] = frameParts(payload, { fin: true, rsv1: false, opcode: 2, mask: Buffer.from('01020304', 'hex') });
    expect(payload.toString()).toBe('abcdef');
    expect(masked).not.toBe(payload);
    const [, plain] = frameParts(payload, { fin: true, rsv1: false, opcode: 2, mask: null });
    expect(plain.buffer).toBe(payload.buffer);
  });
});

describe('messageParts', async () => {
  it('client messages are masked with a fresh key per frame and a ws server reads them', async () => {
    const keys = randomMaskKeys();
    const parts = messageParts({ opcode: 1, payload: Buffer.from('hello world'), fragments: 4 }, { from: 'client', masks: keys });
    expect(parts.length).toBe(8);
    const headers: FrameHeader[] = [];
    for (const e of new FrameDecoder({ from: 'client', maxPayload: 100, deflate: false }).push(Buffer.concat(parts))) {
      if (e.kind === 'header') headers.push(e);
      expect(e.kind).not.toBe('violation');
    }
    expect(headers.map((h) => [h.opcode, h.fin, h.length])).toEqual([[1, false, 3], [0, false, 3], [0, false, 3], [0, true, 2]]);
    expect(new Set(headers.map((h) => h.maskKey)).size).toBe(4);
    expect(await receive(Buffer.concat(parts), 'client')).toEqual([{ kind: 'message', binary: false, data: Buffer.from('hello world') }]);
  });

  it('server messages are unmasked; a short message still gets its frame count', async () => {
    const parts = messageParts({ opcode: 2, payload: Buffer.from([1, 2]), fragments: 3 }, { from: 'server', masks: fixedKey });
    expect(Buffer.concat(parts).toString('hex')).toBe('0201' + '01' + '000102' + '8000');
    expect(await receive(Buffer.concat(parts), 'server')).toEqual([{ kind: 'message', binary: true, data: Buffer.from([1, 2]) }]);
  });

  it('RSV1 only on the first frame of a compressed message (RFC 7692 §6.1)', async () => {
    const parts = messageParts({ opcode: 1, payload: Buffer.from('f248cdc9c90700', 'hex'), compressed: true, fragments: 2 }, { from: 'server', masks: fixedKey });
    const bytes = Buffer.concat(parts);
    expect(bytes[0]).toBe(0x41);
    expect(bytes[2 + 4]).toBe(0x80);
  });

  it('breaks the masking rule on purpose, and ws says so', async () => {
    const client = Buffer.concat(messageParts({ opcode: 1, payload: Buffer.from('x'), wrongMask: true }, { from: 'client', masks: fixedKey }));
    expect(client.toString('hex')).toBe('810178');
    expect(await receive(client, 'client')).toMatchObject([{ kind: 'error', code: 'WS_ERR_EXPECTED_MASK' }]);
    const server = Buffer.concat(messageParts({ opcode: 1, payload: Buffer.from('x'), wrongMask: true }, { from: 'server', masks: fixedKey }));
    expect(await receive(server, 'server')).toMatchObject([{ kind: 'error', code: 'WS_ERR_UNEXPECTED_MASK' }]);
    const rsv1 = Buffer.concat(messageParts({ opcode: 1, payload: Buffer.from('x'), forceRsv1: true }, { from: 'server', masks: fixedKey }));
    expect(await receive(rsv1, 'server')).toMatchObject([{ kind: 'error', code: 'WS_ERR_UNEXPECTED_RSV_1' }]);
  });
});

describe('control frames', async () => {
  it('close, ping and pong', async () => {
    expect(Buffer.concat(closeParts(1000, 'bye', { from: 'server', masks: fixedKey })).toString('hex')).toBe('880503e8627965');
    const bytes = Buffer.concat([
      ...controlParts(0x9, Buffer.from('hi'), { from: 'client', masks: fixedKey }),
      ...controlParts(0xa, Buffer.from('yo'), { from: 'client', masks: fixedKey }),
      ...closeParts(4000, 'é'.repeat(100), { from: 'client', masks: fixedKey }),
    ]);
    const got = await receive(bytes, 'client');
    expect(got.slice(0, 2)).toEqual([{ kind: 'ping', data: Buffer.from('hi') }, { kind: 'pong', data: Buffer.from('yo') }]);
    expect(got[2]).toEqual({ kind: 'close', code: 4000, reason: 'é'.repeat(61) });
  });

  it('truncateUtf8 never splits a character', async () => {
    expect(truncateUtf8('aé', 2)).toBe('a');
    expect(truncateUtf8('aé', 3)).toBe('aé');
    expect(truncateUtf8('😀😀', 5)).toBe('😀');
  });
});
