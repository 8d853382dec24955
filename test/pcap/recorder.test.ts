/**
 * What the packets cannot carry (capture-format.md "pcapng captures"): `error`, `http`, `tunnel`
 * and `intercept` events go into frametap's local-use records and come back as the same events;
 * an intercept is also a packet comment; a shutdown's `end` keeps `shutdown` and `tcp`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapngRecorder } from '../../src/pcap/pcapng-recorder.js';
import { captureHeader } from '../../src/capture/header.js';
import { EventBus } from '../../src/session/event-bus.js';
import { replayPacketFile } from '../../src/pcap/read-file.js';
import type { SessionEvent } from '../../src/session/events.js';
import { toCaptured } from '../../src/capture/capture-object.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-recorder-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const REQUEST = Buffer.from('GET /x HTTP/1.1\r\nHost: up\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
const RESPONSE = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');

describe('frametap records', () => {
  it('error, http, tunnel and intercept events come back as they went in; intercepts are packet comments', async () => {
    const rec = new PcapngRecorder({ header: captureHeader('forward', '127.0.0.1:8080', null), maxPayload: 1024 });
    const t = 1764340207000.125;
    const others: SessionEvent[] = [
      { type: 'http', conn: 9, t: t + 1, method: 'GET', target: '/index.html', status: 200, durationMs: 1.5 },
      { type: 'error', t: t + 2, stage: 'capture', detail: 'disk slow' },
      { type: 'tunnel', conn: 10, t: t + 3, client: '127.0.0.1:5', target: 'pinned.example.test:443', why: 'ignore-hosts', bytes: { client: 1, server: 2 }, durationMs: 3 },
    ];
    rec.record({ type: 'open', conn: 1, t, client: '127.0.0.1:5000', target: 'ws://up/x' });
    rec.record({ type: 'chunk', conn: 1, t, leg: 'client', from: 'client', bytes: REQUEST });
    rec.record({ type: 'chunk', conn: 1, t, leg: 'upstream', from: 'client', bytes: REQUEST });
    rec.record({ type: 'chunk', conn: 1, t, leg: 'upstream', from: 'server', bytes: RESPONSE });
    rec.record({ type: 'handshake', conn: 1, t, request: { method: 'GET', target: '/x', httpVersion: '1.1', headers: [] }, response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [] }, upgraded: true, accept: 'ok', protocol: null, extensions: [] });
    rec.record({ type: 'chunk', conn: 1, t, leg: 'client', from: 'server', bytes: RESPONSE });
    const frame = encodeFrame({ opcode: 1, payload: Buffer.from('secret'), mask: Buffer.from([9, 9, 9, 9]) });
    rec.record({ type: 'chunk', conn: 1, t: t + 0.5, leg: 'client', from: 'client', bytes: frame });
    const intercept: SessionEvent = { type: 'intercept', conn: 1, t: t + 0.5, from: 'client', action: 'edit', by: 'rule', name: 'mask', ref: { from: 'client', index: 0 }, message: { opcode: 1, length: 6, data: Buffer.from('******'), truncated: false }, detail: 'replaced text' };
    rec.record({ type: 'chunk', conn: 1, t: t + 0.5, leg: 'upstream', from: 'client', bytes: encodeFrame({ opcode: 1, payload: Buffer.from('******'), mask: Buffer.from([9, 9, 9, 9]) }) });
    rec.record(intercept);
    for (const e of others) rec.record(e);
    rec.record({ type: 'end', conn: 1, t: t + 4, code: 1006, reason: '', initiator: null, clean: false, durationMs: 4, bytes: { client: 12, server: 0 }, frames: { client: 1, server: 0 }, shutdown: true, tcp: { client: 'cut', server: 'cut' } });
    const bytes = rec.arena.take();
    expect(bytes.includes(Buffer.from('frametap: intercept edit by rule (mask): replaced text'))).toBe(true);
    const file = path.join(dir, 'records.pcapng');
    fs.writeFileSync(file, bytes);
    const bus = new EventBus();
    const read: SessionEvent[] = [];
    bus.subscribe('read', (e) => read.push(e));
    const { header } = await replayPacketFile(file, bus);
    expect(header).toMatchObject({ mode: 'forward', listen: '127.0.0.1:8080' });
    const plain = (e: SessionEvent): unknown => toCaptured(e);
    for (const e of [...others, intercept]) expect(read.map(plain)).toContainEqual(plain(e));
    expect(read.find((e) => e.type === 'frame')).toMatchObject({ from: 'client', opcode: 1, maskKey: '09090909' });
    expect(read.find((e) => e.type === 'end')).toMatchObject({ conn: 1, shutdown: true, code: 1006, tcp: { client: 'cut', server: 'cut' }, durationMs: 4 });
  });
});

describe('packet comments', () => {
  it('comments inserted into earlier packets of a batch keep every later block whole', async () => {
    const { CaptureParser } = await import('../../src/pcap/block-reader.js');
    const { tcpSegmentOf } = await import('../../src/pcap/link-layer.js');
    const rec = new PcapngRecorder({ header: captureHeader('reverse', null, null), maxPayload: 1024 });
    for (const conn of [1, 2, 3]) rec.record({ type: 'open', conn, t: 1, client: 'c', target: 't' });
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      for (const conn of [1, 2, 3]) {
        const bytes = Buffer.from(`conn ${conn} chunk ${i}`);
        sent.push(bytes.toString());
        rec.record({ type: 'chunk', conn, t: 2 + i, leg: 'upstream', from: 'server', bytes });
      }
    }
    // Violations found late, for packets that many later packets follow.
    for (const conn of [1, 2, 1]) rec.record({ type: 'violation', conn, t: 9, from: 'server', code: 1002, rule: 'reserved-opcode', detail: `late ${conn}` });
    const bytes = rec.arena.take();
    const parser = new CaptureParser();
    const records = parser.push(bytes);
    expect(parser.problem).toBeNull();
    expect(parser.end()).toBeNull();
    const payloads = records.flatMap((r) => (r.kind === 'packet' ? [tcpSegmentOf(r.iface.linkType, r.data)!.payload.toString()] : [])).filter((p) => p !== '');
    expect(payloads).toEqual(sent);
    const text = bytes.toString('latin1');
    expect(text.match(/frametap: violation reserved-opcode \(1002\): late 1/g)).toHaveLength(2);
    expect(text).toContain('late 2');
  });
});
