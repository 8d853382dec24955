/**
 * A HAR recorded by Debian's chromium itself (playwright-core's recordHar) against a local ws server,
 * read back by `loadCapture` and printed by `frametap view --ui log`.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterEach, describe, expect } from 'vitest';
import { WebSocketServer } from 'ws';
import { loadCaptured } from '../helpers/captured.js';
import type { CapturedMessage } from '../../src/capture/capture-object.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, itWith } from '../helpers/system-deps.js';

const run = promisify(execFile);

describe('HAR recorded by chromium', () => {
  let server: http.Server | null = null;
  let wss: WebSocketServer | null = null;
  let browser: Browser | null = null;
  let dir: string | null = null;

  afterEach(async () => {
    await browser?.close();
    wss?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    server = null;
    wss = null;
    browser = null;
    dir = null;
  });

  itWith('chromium')('is read with its messages, times in ms, and shown by view', async () => {
    server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><title>har</title>');
    });
    wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo ${String(data)}`, { binary: isBinary })));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-chromium-'));
    const harPath = path.join(dir, 'recorded.har');

    const before = Date.now();
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
    const context = await browser.newContext({ recordHar: { path: harPath } });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.evaluate(async (p) => {
      const ws = new WebSocket(`ws://127.0.0.1:${p}/chat?room=har`);
      await new Promise((resolve) => (ws.onopen = resolve));
      let got = 0;
      const done = new Promise((resolve) => (ws.onmessage = () => ++got === 2 && resolve(null)));
      ws.send('{"hello":"from chromium"}');
      ws.send(new Uint8Array([1, 2, 3, 250]));
      await done;
      ws.close(1000, 'bye');
    }, port);
    await context.close();
    const after = Date.now();

    const loaded = await loadCaptured(harPath);
    expect(loaded.source).toBe('har');
    const messages = loaded.events.filter((e): e is CapturedMessage => e.type === 'message');
    expect(messages.map((m) => [m.from, m.opcode, m.text ?? m.data])).toEqual([
      ['client', 1, '{"hello":"from chromium"}'],
      ['client', 2, 'AQID+g=='],
      ['server', 1, 'echo {"hello":"from chromium"}'],
      ['server', 2, 'AQID+g=='],
    ]);
    for (const m of messages) {
      expect(m.t).toBeGreaterThanOrEqual(before - 1000);
      expect(m.t).toBeLessThanOrEqual(after + 1000);
    }
    const handshake = loaded.events.find((e) => e.type === 'handshake');
    expect(handshake).toMatchObject({ upgraded: true, accept: 'ok', request: { target: '/chat?room=har' } });

    const { stdout } = await run(process.execPath, ['bin/frametap.js', 'view', harPath, '--ui', 'log']);
    expect(stdout).toContain('echo {\\"hello\\":\\"from chromium\\"}');
    expect(stdout).toContain('<01 02 03 fa>');
  }, 60_000);
});
