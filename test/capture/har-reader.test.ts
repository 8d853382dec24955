import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { harTimeToMs, harToEvents } from '../../src/capture/har-reader.js';
import { loadCapture } from '../../src/capture/load.js';
import { cap } from '../helpers/captured.js';
import { UsageError } from '../../src/errors.js';

const FIXTURE = path.resolve('fixtures/har/devtools-quotes.har');
const CAPTURE = path.resolve('fixtures/captures/view-chat.jsonl');

describe('HAR reader', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = null;
  });
  const tmp = (name: string, content: string): string => {
    dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-har-'));
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };

  it('reads a Chrome DevTools HAR (message time in epoch seconds)', async () => {
    const loaded = await loadCapture(FIXTURE);
    expect(loaded.source).toBe('har');
    expect(loaded.header).toBeNull();
    expect(loaded.events.map((e) => e.type)).toEqual(['open', 'handshake', 'message', 'message', 'message', 'message']);
    const [open, handshake, sub, quote, blob] = loaded.events.map(cap);
    expect(open).toMatchObject({ conn: 1, target: 'ws://127.0.0.1:8000/quotes?symbol=FTAP', t: Date.parse('2026-01-02T03:04:05.500Z') });
    expect(handshake).toMatchObject({ upgraded: true, accept: 'ok', request: { target: '/quotes?symbol=FTAP', httpVersion: '1.1' }, response: { status: 101 } });
    expect(sub).toMatchObject({ from: 'client', opcode: 1, text: '{"subscribe":"FTAP"}', length: 20 });
    expect(quote!.t).toBeCloseTo(Date.parse('2026-01-02T03:04:05.612Z'), 3);
    expect(blob).toMatchObject({ from: 'server', opcode: 2, data: '3q2+7wABAgM=', length: 8 });
  });

  it('reads Playwright recordHar times in epoch milliseconds', () => {
    const t = 1767323045123.5;
    const events = harToEvents({
      log: {
        entries: [
          { request: { url: 'http://x/' }, response: { status: 200 } },
          { startedDateTime: new Date(t - 10).toISOString(), request: { method: 'GET', url: 'ws://127.0.0.1:1/a', httpVersion: 'HTTP/1.1', headers: [] }, response: { status: 101, statusText: 'Switching Protocols', headers: [] }, _resourceType: 'websocket', _webSocketMessages: [{ type: 'receive', time: t, opcode: 1, data: 'hi' }] },
        ],
      },
    });
    expect(events.filter((e) => e.type === 'message').map((e) => e.t)).toEqual([t]);
    expect(harTimeToMs(1767323045.1235)).toBeCloseTo(t, 1);
  });

  it('warns about and skips malformed messages', () => {
    const warnings: string[] = [];
    const events = harToEvents(
      { log: { entries: [{ request: { url: 'ws://h/' }, response: { status: 101 }, _webSocketMessages: [{ type: 'send', time: 1, opcode: 1, data: 'ok' }, { type: 'bogus' }, { type: 'send', time: 2, opcode: 9, data: '' }] }] } },
      (w) => warnings.push(w),
    );
    expect(events.filter((e) => e.type === 'message')).toHaveLength(1);
    expect(warnings).toEqual(['HAR entry ws://h/: 2 WebSocket message(s) without type/time/opcode/data were skipped']);
  });

  it('tells a JSONL capture from a HAR by content', async () => {
    const loaded = await loadCapture(CAPTURE);
    expect(loaded.source).toBe('jsonl');
    expect(loaded.header?.listen).toBe('127.0.0.1:8080');
    expect(loaded.events.filter((e) => e.type === 'end')).toHaveLength(2);
    // A HAR saved on one line is still a HAR.
    const oneLine = tmp('one.json', JSON.stringify(JSON.parse(fs.readFileSync(FIXTURE, 'utf8'))));
    expect((await loadCapture(oneLine)).source).toBe('har');
  });

  it('refuses a missing file and a HAR without WebSockets as usage errors', async () => {
    await expect(loadCapture('/nonexistent/x.har')).rejects.toThrow(UsageError);
    await expect(loadCapture('/nonexistent/x.har')).rejects.toThrow(/no such file/);
    const noWs = tmp('plain.har', JSON.stringify({ log: { version: '1.2', entries: [{ request: { url: 'http://x/' }, response: { status: 200 } }] } }));
    await expect(loadCapture(noWs)).rejects.toThrow(/no WebSocket entries/);
  });
});
