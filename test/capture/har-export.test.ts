import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHar, writeHar } from '../../src/capture/har-export.js';
import type { CaptureHeader, SessionEvent } from '../../src/session/events.js';
import { ev, type CapturedEvent } from '../helpers/captured.js';

const T = 1_700_000_000_000;
const header: CaptureHeader = {
  type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T).toISOString(),
  tool: { name: 'frametap', version: '0.1.0' }, mode: 'reverse', listen: '127.0.0.1:8080', upstream: 'ws://127.0.0.1:9001',
};
const events: SessionEvent[] = ([
  { type: 'http', conn: 1, t: T + 3, method: 'GET', target: '/index.html?x=1', status: 200, durationMs: 3 },
  { type: 'open', conn: 2, t: T + 10, client: '127.0.0.1:5000', target: 'ws://127.0.0.1:9001/chat?room=1' },
  {
    type: 'handshake', conn: 2, t: T + 12,
    request: { method: 'GET', target: '/chat?room=1', httpVersion: '1.1', headers: [['Host', '127.0.0.1:8080'], ['Upgrade', 'websocket']] },
    response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [['Upgrade', 'websocket']] },
    upgraded: true, accept: 'ok', protocol: null, extensions: [],
  },
  { type: 'message', conn: 2, t: T + 20.5, from: 'client', opcode: 1, compressed: false, frames: 1, length: 2, text: 'hi', truncated: false },
  { type: 'message', conn: 2, t: T + 30, from: 'server', opcode: 2, compressed: false, frames: 1, length: 2, data: 'AAE=', truncated: false },
  { type: 'end', conn: 2, t: T + 40, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: 30, bytes: { client: 1, server: 1 }, frames: { client: 1, server: 1 } },
] satisfies CapturedEvent[]).map(ev);

let dir: string | null = null;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

describe('buildHar', () => {
  it('writes a websocket entry the way Chrome does, and the plain HTTP request', () => {
    const har = buildHar(header, events, '0.1.0');
    expect(har.log.version).toBe('1.2');
    expect(har.log.entries).toHaveLength(2);
    const [http, ws] = har.log.entries;
    expect(http!.request.url).toBe('http://127.0.0.1:9001/index.html?x=1');
    expect(http!.response.status).toBe(200);
    expect(ws!._resourceType).toBe('websocket');
    expect(ws!.request.url).toBe('ws://127.0.0.1:9001/chat?room=1');
    expect(ws!.request.httpVersion).toBe('HTTP/1.1');
    expect(ws!.request.headers).toEqual([{ name: 'Host', value: '127.0.0.1:8080' }, { name: 'Upgrade', value: 'websocket' }]);
    expect(ws!.request.queryString).toEqual([{ name: 'room', value: '1' }]);
    expect(ws!.response.status).toBe(101);
    expect(ws!.response.statusText).toBe('Switching Protocols');
    expect(ws!.startedDateTime).toBe(new Date(T + 10).toISOString());
    expect(ws!._webSocketMessages).toEqual([
      { type: 'send', time: (T + 20.5) / 1000, opcode: 1, data: 'hi' },
      { type: 'receive', time: (T + 30) / 1000, opcode: 2, data: 'AAE=' },
    ]);
  });
});

describe('buildHar refusals', () => {
  const refusal = (conn: number, body: Buffer, headers: ReadonlyArray<readonly [string, string]>, bodyTruncated?: true): SessionEvent => ({
    type: 'handshake', conn, t: T + conn,
    request: { method: 'GET', target: '/chat', httpVersion: '1.1', headers: [['Host', '127.0.0.1:8080']] },
    response: { status: 403, reason: 'Forbidden', httpVersion: '1.1', headers, body, ...(bodyTruncated ? { bodyTruncated } : {}) },
    upgraded: false, accept: 'missing', protocol: null, extensions: [],
  });

  it("puts a refused upgrade's body in response.content: UTF-8 as text, other bytes as base64", () => {
    const bin = Buffer.from([0x00, 0xff, 0xfe, 0x41]);
    const har = buildHar(header, [
      refusal(1, Buffer.from('not here\n'), [['Content-Type', 'text/plain'], ['Content-Length', '9']]),
      refusal(2, bin, [['content-type', 'application/octet-stream']]),
      refusal(3, Buffer.from('5\r\nhello\r\n'), [['Transfer-Encoding', 'chunked']], true),
    ], '0.1.0');
    const [a, b, c] = har.log.entries;
    expect(a!.response.content).toEqual({ size: 9, mimeType: 'text/plain', text: 'not here\n' });
    expect(a!.response.bodySize).toBe(9);
    expect(b!.response.content).toEqual({ size: 4, mimeType: 'application/octet-stream', text: bin.toString('base64'), encoding: 'base64' });
    expect(Buffer.from(b!.response.content.text!, 'base64').equals(bin)).toBe(true);
    expect(c!.response.content).toEqual({ size: 10, mimeType: 'x-unknown', text: '5\r\nhello\r\n', comment: 'as on the wire, chunked framing included; cut at --max-payload' });
    // A 101 has no body: the content stays empty.
    expect(buildHar(header, events, '0.1.0').log.entries[1]!.response.content).toEqual({ size: 0, mimeType: 'x-unknown' });
  });
});

describe('writeHar', () => {
  it('writes JSON with mode 0600, replacing a file that had another mode', () => {
    dir = mkdtempSync(join(tmpdir(), 'frametap-har-'));
    const out = join(dir, 'out.har');
    writeFileSync(out, 'old');
    chmodSync(out, 0o644);
    writeHar(out, buildHar(header, events, '0.1.0'));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const parsed = JSON.parse(readFileSync(out, 'utf8')) as { log: { entries: unknown[] } };
    expect(parsed.log.entries).toHaveLength(2);
  });
});
