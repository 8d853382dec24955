/**
 * Composes a frametap pcapng block by block with the real recorder (as the proxy writes it): `conns`
 * connections, each with a real upgrade and `messages` masked text messages from the client
 * (`row <conn>-<n>`, zero-padded) each answered by the server, then a clean close.
 */
import * as fs from 'node:fs';
import { PcapngRecorder } from '../../src/pcap/pcapng-recorder.js';
import { captureHeader } from '../../src/capture/header.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';
import type { Side } from '../../src/session/events.js';

const REQUEST = Buffer.from('GET /rows HTTP/1.1\r\nHost: upstream\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
const RESPONSE = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');

export function rowText(conn: number, n: number): string {
  return `row ${conn}-${String(n).padStart(6, '0')}`;
}

/** Writes the capture to `file` (mode 0600); returns its size in bytes. */
export function composeTextCapture(file: string, options: { readonly conns: number; readonly messages: number }): number {
  const fd = fs.openSync(file, 'w', 0o600);
  const t0 = Date.UTC(2026, 10, 28, 12);
  const rec = new PcapngRecorder({ header: captureHeader('reverse', '127.0.0.1:8080', 'ws://upstream', new Date(t0)), maxPayload: 1024 * 1024 });
  let size = 0;
  const flush = (): void => {
    const out = rec.arena.take();
    fs.writeSync(fd, out);
    size += out.length;
  };
  const chunk = (conn: number, t: number, from: Side, bytes: Buffer): void => {
    rec.record({ type: 'chunk', conn, t, leg: from === 'client' ? 'client' : 'upstream', from, bytes });
    rec.record({ type: 'chunk', conn, t, leg: from === 'client' ? 'upstream' : 'client', from, bytes });
  };
  let t = t0;
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  for (let conn = 1; conn <= options.conns; conn++) {
    rec.record({ type: 'open', conn, t, client: `127.0.0.1:${50000 + conn}`, target: 'ws://upstream/rows' });
    rec.record({ type: 'chunk', conn, t, leg: 'client', from: 'client', bytes: REQUEST });
    rec.record({ type: 'chunk', conn, t, leg: 'upstream', from: 'client', bytes: REQUEST });
    rec.record({ type: 'chunk', conn, t, leg: 'upstream', from: 'server', bytes: RESPONSE });
    rec.record({ type: 'chunk', conn, t, leg: 'client', from: 'server', bytes: RESPONSE });
    rec.record({ type: 'handshake', conn, t, request: { method: 'GET', target: '/rows', httpVersion: '1.1', headers: [] }, response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [] }, upgraded: true, accept: 'ok', protocol: null, extensions: [] });
  }
  for (let n = 0; n < options.messages; n++) {
    for (let conn = 1; conn <= options.conns; conn++) {
      t += 0.25;
      const text = Buffer.from(rowText(conn, n));
      chunk(conn, t, 'client', encodeFrame({ opcode: 1, payload: text, mask: key }));
      chunk(conn, t + 0.1, 'server', encodeFrame({ opcode: 1, payload: Buffer.from(`echo ${text.toString()}`) }));
    }
    if (n % 1000 === 999) flush();
  }
  for (let conn = 1; conn <= options.conns; conn++) {
    t += 1;
    const body = Buffer.from([0x03, 0xe8]);
    chunk(conn, t, 'client', encodeFrame({ opcode: 8, payload: body, mask: key }));
    chunk(conn, t, 'server', encodeFrame({ opcode: 8, payload: body }));
    const frames = options.messages + 1;
    rec.record({ type: 'end', conn, t, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: t - t0, bytes: { client: 0, server: 0 }, frames: { client: frames, server: frames }, tcp: { client: 'fin', server: 'fin' } });
  }
  flush();
  fs.closeSync(fd);
  return size;
}
