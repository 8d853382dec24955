/**
 * A real browser with frametap as its proxy (forward mode): Debian's Chromium (playwright-core,
 * headless) with --proxy-server and frametap's CA allowed by SPKI hash loads
 * https://localhost:PORT from a TLS server whose certificate comes from a test CA that frametap
 * trusts (--upstream-ca); the page's wss:// WebSocket (permessage-deflate) exchanges text and
 * binary messages, and the events show both directions. The same over http:// and ws://, which
 * Chromium sends as a plain CONNECT.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, expect } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { CHROMIUM_ARGS, CHROMIUM_PATH, itWith } from '../helpers/system-deps.js';
import { startEchoServer } from '../helpers/servers.js';
import { makeTestPki } from '../helpers/test-ca.js';
import { startForwardHarness, type ForwardHarness } from './forward-harness.js';
import { messageData, messageText } from '../../src/session/event-data.js';
import type { HandshakeEvent, HttpEvent, MessageEvent, OpenEvent } from '../../src/session/events.js';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>frametap forward-mode test</title>
<script>
  window.exchange = (texts, binary) => new Promise((resolve, reject) => {
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/live?room=1');
    ws.binaryType = 'arraybuffer';
    const answers = [];
    const expected = texts.length + 1;
    ws.onopen = () => {
      texts.forEach((m) => ws.send(m));
      ws.send(new Uint8Array(binary));
    };
    ws.onmessage = (e) => {
      answers.push(typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data)));
      if (answers.length === expected) ws.close(1000, 'done');
    };
    ws.onclose = (e) => resolve({ answers, code: e.code });
    ws.onerror = () => reject(new Error('websocket error'));
  });
</script>`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function launch(h: ForwardHarness): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      ...CHROMIUM_ARGS,
      `--proxy-server=http://127.0.0.1:${h.proxy.port}`,
      `--ignore-certificate-errors-spki-list=${h.ca.spki}`,
      // Without <-loopback> Chromium never proxies localhost; the rest keeps its own traffic off.
      '--proxy-bypass-list=<-loopback>;*.google.com;*.googleapis.com;*.gstatic.com',
    ],
  });
  cleanups.push(() => browser.close());
  return browser;
}

type Exchange = (texts: string[], binary: number[]) => Promise<{ answers: Array<string | number[]>; code: number }>;
const TEXTS = ['hello from chromium', 'ünïcødé ✓', 'x'.repeat(5000)];
const BINARY = [0, 1, 2, 253, 254, 255];

function checkEvents(h: ForwardHarness, scheme: 'ws' | 'wss', port: number): void {
  const open = h.events.find((e): e is OpenEvent => e.type === 'open')!;
  expect(open.target).toBe(`${scheme}://localhost:${port}/live?room=1`);
  const hs = h.events.find((e): e is HandshakeEvent => e.type === 'handshake')!;
  expect(hs.request.target).toBe('/live?room=1');
  expect(hs.response?.status).toBe(101);
  expect(hs.extensions.map((e) => e.name)).toEqual(['permessage-deflate']);
  for (const from of ['client', 'server'] as const) {
    const got = h.events.filter((e): e is MessageEvent => e.type === 'message' && e.from === from);
    expect(got.filter((m) => m.opcode === 1).map((m) => messageText(m))).toEqual(TEXTS);
    expect(got.filter((m) => m.opcode === 2).map((m) => [...messageData(m)])).toEqual([BINARY]);
    expect(got.every((m) => m.compressed)).toBe(true);
  }
  expect(h.events.filter((e) => e.type === 'violation' || e.type === 'error')).toEqual([]);
}

itWith('chromium')('Chromium through the forward proxy: https page, wss:// WebSocket with permessage-deflate, text and binary', async () => {
  const pki = makeTestPki();
  const server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
    else res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;
  const h = await startForwardHarness({ upstreamCa: [pki.caPem] });
  cleanups.push(() => h.stop());
  const browser = await launch(h);
  const page = await browser.newPage();
  const response = await page.goto(`https://localhost:${port}/`);
  expect(response?.status()).toBe(200);
  const result = await page.evaluate(([t, b]) => (globalThis as unknown as { exchange: Exchange }).exchange(t, b), [TEXTS, BINARY] as const);
  expect(result).toEqual({ answers: [...TEXTS, BINARY], code: 1000 });
  expect(await h.event('end', undefined, 10_000)).toMatchObject({ code: 1000, reason: 'done', initiator: 'client', clean: true });
  expect(h.events.find((e): e is HttpEvent => e.type === 'http' && e.target === `https://localhost:${port}/`)).toMatchObject({ method: 'GET', status: 200 });
  checkEvents(h, 'wss', port);
});

itWith('chromium')('Chromium through the forward proxy over http:// and ws:// (ws:// arrives as a plain CONNECT)', async () => {
  const echo = await startEchoServer({
    perMessageDeflate: { threshold: 0 },
    onRequest: (req, res) => {
      if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
      else res.writeHead(404).end();
    },
  });
  cleanups.push(() => echo.close());
  const h = await startForwardHarness();
  cleanups.push(() => h.stop());
  const browser = await launch(h);
  const page = await browser.newPage();
  expect((await page.goto(`http://localhost:${echo.port}/`))?.status()).toBe(200);
  const result = await page.evaluate(([t, b]) => (globalThis as unknown as { exchange: Exchange }).exchange(t, b), [TEXTS, BINARY] as const);
  expect(result).toEqual({ answers: [...TEXTS, BINARY], code: 1000 });
  await h.event('end', undefined, 10_000);
  // The page itself came as an absolute-form GET.
  expect(h.events.find((e): e is HttpEvent => e.type === 'http' && e.target === `http://localhost:${echo.port}/`)).toMatchObject({ status: 200 });
  checkEvents(h, 'ws', echo.port);
});
