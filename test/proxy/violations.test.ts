/**
 * Hostile peers through the proxy: a raw TCP server writes each violation of the capture format's
 * rule table and then a valid frame to a raw TCP client (a `ws` client would fail the connection
 * at the first one). Each gives one `violation` (rule, close code, sender, offset), the bytes still
 * reach the other side untouched, and inspection goes on where the stream can still be followed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeClosePayload, encodeFrame, type FrameSpec } from '../../src/protocol/frame-encoder.js';
import { VIOLATION_CODES, type ViolationRule } from '../../src/protocol/constants.js';
import type { ViolationEvent } from '../../src/session/events.js';
import type { CapturedFrame } from '../../src/capture/capture-object.js';
import { connectRawClient, startRawServer, type RawServer } from '../helpers/raw-peers.js';
import { startHarness, type Harness } from './harness.js';

const MASK = Buffer.from([0x11, 0x22, 0x33, 0x44]);
const server = (spec: FrameSpec): Buffer => encodeFrame(spec);
const client = (spec: FrameSpec): Buffer => encodeFrame({ ...spec, mask: MASK });
/** The frame every case ends with: valid in any state but after a close. */
const VALID_PING = (from: 'client' | 'server'): Buffer => (from === 'server' ? server : client)({ opcode: 9, payload: Buffer.from('ok') });

interface Case {
  readonly rule: ViolationRule;
  readonly from: 'client' | 'server';
  /** Frames before the offending one. */
  readonly before?: readonly Buffer[];
  readonly bad?: Buffer;
  /** Whether the valid frame after it can still be followed (not after a close or a lost length). */
  readonly followed?: boolean;
  /** Response headers (handshake rules). */
  readonly headers?: readonly string[];
  /** The client offers permessage-deflate. */
  readonly offerDeflate?: boolean;
}

const DEFLATE = 'Sec-WebSocket-Extensions: permessage-deflate';
// RFC 7692 §7.2.3.1: "Hello" compressed.
const HELLO_DEFLATED = Buffer.from('f248cdc9c90700', 'hex');

const CASES: readonly Case[] = [
  { rule: 'rsv1-without-extension', from: 'server', bad: server({ opcode: 1, rsv1: true, payload: Buffer.from('x') }) },
  {
    rule: 'rsv1-on-continuation',
    from: 'server',
    offerDeflate: true,
    headers: [DEFLATE],
    before: [server({ opcode: 1, rsv1: true, fin: false, payload: HELLO_DEFLATED })],
    bad: server({ opcode: 0, rsv1: true, payload: Buffer.alloc(0) }),
  },
  { rule: 'rsv1-on-control-frame', from: 'server', bad: server({ opcode: 9, rsv1: true, payload: Buffer.from('p') }) },
  { rule: 'rsv2-rsv3-set', from: 'server', bad: server({ opcode: 2, rsv2: true, payload: Buffer.from('x') }) },
  { rule: 'reserved-opcode', from: 'server', bad: server({ opcode: 3, payload: Buffer.from('x') }) },
  { rule: 'control-frame-too-long', from: 'server', bad: server({ opcode: 9, payload: Buffer.alloc(126, 1) }) },
  { rule: 'fragmented-control-frame', from: 'server', bad: server({ opcode: 9, fin: false, payload: Buffer.from('p') }) },
  { rule: 'unexpected-continuation', from: 'server', bad: server({ opcode: 0, payload: Buffer.from('x') }) },
  {
    rule: 'expected-continuation',
    from: 'server',
    before: [server({ opcode: 1, fin: false, payload: Buffer.from('a') })],
    bad: server({ opcode: 1, payload: Buffer.from('b') }),
  },
  { rule: 'non-minimal-length', from: 'server', bad: server({ opcode: 2, lengthForm: 16, payload: Buffer.from('x') }) },
  { rule: 'length-msb-set', from: 'server', bad: server({ opcode: 2, lengthForm: 64, declaredLength: 2n ** 63n + 1n }), followed: false },
  { rule: 'masked-server-frame', from: 'server', bad: client({ opcode: 2, payload: Buffer.from('x') }) },
  { rule: 'unmasked-client-frame', from: 'client', bad: server({ opcode: 2, payload: Buffer.from('x') }) },
  { rule: 'invalid-close-body', from: 'server', bad: server({ opcode: 8, payload: Buffer.from([0x03]) }), followed: false },
  { rule: 'invalid-close-code', from: 'server', bad: server({ opcode: 8, payload: encodeClosePayload(1005) }), followed: false },
  {
    rule: 'invalid-close-reason',
    from: 'client',
    bad: client({ opcode: 8, payload: Buffer.concat([encodeClosePayload(1000), Buffer.from([0xff])]) }),
    followed: false,
  },
  { rule: 'invalid-utf8', from: 'server', bad: server({ opcode: 1, payload: Buffer.from([0x61, 0xff, 0xfe]) }) },
  { rule: 'inflate-failed', from: 'server', offerDeflate: true, headers: [DEFLATE], bad: server({ opcode: 2, rsv1: true, payload: Buffer.from([0xff, 0xff, 0xff]) }) },
  {
    rule: 'frame-after-close',
    from: 'server',
    before: [server({ opcode: 8, payload: encodeClosePayload(1000, 'done') })],
    bad: server({ opcode: 1, payload: Buffer.from('late') }),
    followed: false,
  },
  { rule: 'length-too-large', from: 'server', bad: server({ opcode: 2, lengthForm: 64, declaredLength: 2 ** 53 }), followed: false },
  { rule: 'extension-not-offered', from: 'server', headers: [DEFLATE] },
  { rule: 'subprotocol-not-offered', from: 'server', headers: ['Sec-WebSocket-Protocol: chat'] },
  { rule: 'invalid-extension-params', from: 'server', offerDeflate: true, headers: ['Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7'] },
];

let raw: RawServer;
let h: Harness;

function caseOf(request: string): Case {
  const name = /^GET \/([a-z0-9-]+)/.exec(request)?.[1];
  const found = CASES.find((c) => c.rule === name);
  if (!found) throw new Error(`no case for ${request}`);
  return found;
}

function serverBytes(c: Case): Buffer {
  if (c.from !== 'server' || !c.bad) return c.from === 'server' ? VALID_PING('server') : Buffer.alloc(0);
  return Buffer.concat([...(c.before ?? []), c.bad, ...(c.followed === false ? [] : [VALID_PING('server')])]);
}

function clientBytes(c: Case): Buffer {
  if (c.from !== 'client' || !c.bad) return Buffer.alloc(0);
  return Buffer.concat([...(c.before ?? []), c.bad, ...(c.followed === false ? [] : [VALID_PING('client')])]);
}

beforeAll(async () => {
  raw = await startRawServer({
    headers: (request) => caseOf(request).headers ?? [],
    afterUpgrade: (request) => serverBytes(caseOf(request)),
  });
  h = await startHarness(raw.url);
});

afterAll(async () => {
  await h.proxy.stop();
  await raw.close();
});

describe('each violation of the rule table, relayed untouched', () => {
  for (const [i, c] of CASES.entries()) {
    it(`${c.rule} (${c.from})`, async () => {
      const conn = i + 1;
      const peer = await connectRawClient(h.proxy.port, {
        path: `/${c.rule}`,
        extraHeaders: c.offerDeflate ? ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'] : [],
        afterRequest: clientBytes(c),
      });
      expect(peer.status).toBe(101);
      const upstreamSide = await raw.connection(i);
      const toClient = serverBytes(c);
      const toServer = clientBytes(c);
      // The bytes arrive untouched, the valid frame after the bad one included.
      expect((await peer.received.atLeast(toClient.length)).equals(toClient)).toBe(true);
      expect((await upstreamSide.received.atLeast(toServer.length)).equals(toServer)).toBe(true);
      peer.socket.destroy();
      await h.event('end', (e) => e.conn === conn);
      const events = h.of(conn);
      const violations = events.filter((e): e is ViolationEvent => e.type === 'violation');
      expect(violations.map((v) => [v.rule, v.code, v.from])).toEqual([[c.rule, VIOLATION_CODES[c.rule], c.from]]);
      if (c.bad) expect(violations[0]!.offset).toBe(Buffer.concat(c.before ?? []).length);
      if (c.bad && c.followed !== false) {
        const last = events.filter((e): e is CapturedFrame => e.type === 'frame' && e.from === c.from).at(-1)!;
        expect([last.opcode, Buffer.from(last.payload ?? '', 'base64').toString()]).toEqual([9, 'ok']);
      }
    });
  }
});
