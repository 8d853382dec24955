import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCaptured } from '../helpers/captured.js';
import { readCaptured } from '../helpers/captured.js';
import type { CapturedEvent, CapturedFrame, CapturedMessage } from '../../src/capture/capture-object.js';
import { runInProcess } from '../replay/peers.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/captures/replay-chat.jsonl', import.meta.url));

let dir: string | null = null;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** Messages in time order (a HAR is ordered by time; a capture writes an inflated message when inflating ends). */
const messages = (events: readonly CapturedEvent[]): string[] =>
  events
    .filter((e): e is CapturedMessage => e.type === 'message')
    .sort((a, b) => a.t - b.t)
    .map((m) => `${m.from} ${m.opcode} ${m.text ?? m.data} @${Math.round(m.t)}`);

describe('frametap export FILE --har OUT', () => {
  it('writes a Chrome-shaped HAR (mode 0600) that view and loadCapture read back with the same messages in order', async () => {
    dir = mkdtempSync(join(tmpdir(), 'frametap-export-'));
    const out = join(dir, 'chat.har');
    const r = await runInProcess(['export', FIXTURE, '--har', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('1 WebSocket connection, 1 HTTP request');
    expect(statSync(out).mode & 0o777).toBe(0o600);

    type Entry = { _resourceType: string; request: { url: string; method: string; headers: unknown[] }; response: { status: number };
      _webSocketMessages?: Array<{ type: string; time: number; opcode: number; data: string }> };
    const har = JSON.parse(readFileSync(out, 'utf8')) as { log: { version: string; creator: { name: string }; entries: Entry[] } };
    expect(har.log.version).toBe('1.2');
    const ws = har.log.entries.find((e) => e._resourceType === 'websocket')!;
    expect(ws.request.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/chat\?room=1$/);
    expect(ws.response.status).toBe(101);
    expect(ws._webSocketMessages!.map((m) => m.type)).toEqual(['receive', 'send', 'receive', 'send', 'receive', 'send', 'receive', 'send', 'receive']);
    for (const m of ws._webSocketMessages!) {
      expect(Object.keys(m).sort()).toEqual(['data', 'opcode', 'time', 'type']);
      // Chrome's unit: epoch seconds.
      expect(m.time).toBeGreaterThan(1e9);
      expect(m.time).toBeLessThan(1e11);
    }
    expect(ws._webSocketMessages![5]).toMatchObject({ opcode: 2, data: 'AQIDBAX6' });
    const page = har.log.entries.find((e) => e._resourceType !== 'websocket')!;
    expect(page.request.url).toMatch(/\/favicon\.ico$/);
    expect(page.response.status).toBe(404);

    const original = await readCaptured(FIXTURE);
    const back = await loadCaptured(out);
    expect(back.source).toBe('har');
    expect(messages(back.events)).toEqual(messages(original.events));

    const view = await runInProcess(['view', out, '--ui', 'jsonl']);
    expect(view.code).toBe(0);
    const viewed = view.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as CapturedEvent | { type: 'capture' })
      .filter((e): e is CapturedEvent => e.type !== 'capture');
    expect(messages(viewed)).toEqual(messages(original.events));
  });

  it('bad input: a missing file or no --har is one line and exit 2', async () => {
    const missing = await runInProcess(['export', '/nonexistent/cap.jsonl', '--har', '/tmp/x.har']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const noOut = await runInProcess(['export', FIXTURE]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/^frametap: export: missing --har OUT/);
  });
});
