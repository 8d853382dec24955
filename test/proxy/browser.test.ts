/**
 * A real browser through frametap: Debian's Chromium (playwright-core, headless, off the network)
 * loads a page from the upstream through the proxy (`web()`), the page opens a WebSocket to the
 * same origin, and the events show its messages, compressed as Chromium negotiates.
 */
import { afterEach, expect } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, itWith } from '../helpers/system-deps.js';
import { startEchoServer, type EchoServer } from '../helpers/servers.js';
import { startHarness, type Harness } from './harness.js';
import type { HandshakeEvent, HttpEvent } from '../../src/session/events.js';
import type { CapturedFrame, CapturedMessage } from '../../src/capture/capture-object.js';


const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>frametap browser test</title>
<script>
  window.exchange = (messages) => new Promise((resolve, reject) => {
    const ws = new WebSocket('ws://' + location.host + '/live?room=1');
    const answers = [];
    ws.onopen = () => messages.forEach((m) => ws.send(m));
    ws.onmessage = (e) => {
      answers.push(e.data);
      if (answers.length === messages.length) ws.close(1000, 'done');
    };
    ws.onclose = (e) => resolve({ answers, code: e.code });
    ws.onerror = () => reject(new Error('websocket error'));
  });
</script>`;

let browser: Browser | undefined;
let echo: EchoServer | undefined;
let h: Harness | undefined;

afterEach(async () => {
  await browser?.close();
  await h?.proxy.stop();
  await echo?.close();
  browser = h = echo = undefined;
});

itWith('chromium')('Chromium loads a page through frametap and its WebSocket messages show up, compressed', async () => {
  echo = await startEchoServer({
    perMessageDeflate: { threshold: 0 },
    onRequest: (req, res) => {
      if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
      else res.writeHead(404).end();
    },
  });
  h = await startHarness(echo.url);
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
  const page = await browser.newPage();
  await page.goto(`${h.proxy.url}/`);
  const messages = ['hello from chromium', 'ünïcødé ✓', 'x'.repeat(5000)];
  // Runs in the page: `globalThis` is its window, where the page defined exchange().
  const result = await page.evaluate((m) => (globalThis as unknown as { exchange(m: string[]): Promise<{ answers: string[]; code: number }> }).exchange(m), messages);
  expect(result).toEqual({ answers: messages, code: 1000 });

  const end = await h.event('end', undefined, 10_000);
  expect(end).toMatchObject({ code: 1000, reason: 'done', initiator: 'client', clean: true });
  const http = h.events.find((e): e is HttpEvent => e.type === 'http' && e.target === '/')!;
  expect(http).toMatchObject({ method: 'GET', status: 200 });
  const hs = h.events.find((e): e is HandshakeEvent => e.type === 'handshake')!;
  expect(hs.request.target).toBe('/live?room=1');
  expect(hs.request.headers.find(([n]) => n.toLowerCase() === 'user-agent')?.[1]).toMatch(/Chrome/);
  expect(hs.extensions.map((e) => e.name)).toEqual(['permessage-deflate']);
  for (const from of ['client', 'server'] as const) {
    const got = h.events.filter((e): e is CapturedMessage => e.type === 'message' && e.from === from);
    expect(got.map((m) => [m.text, m.compressed])).toEqual(messages.map((m) => [m, true]));
    const frames = h.events.filter((e): e is CapturedFrame => e.type === 'frame' && e.from === from && e.opcode === 1);
    expect(frames.every((f) => f.rsv1 && f.masked === (from === 'client'))).toBe(true);
  }
  expect(h.events.filter((e) => e.type === 'violation' || e.type === 'error')).toEqual([]);
});
