/**
 * `--keylog` in reverse mode: the upstream leg's TLS secrets (wss:// upstream, both an upgrade and
 * a plain request) in NSS key log format; the file is created 0600 and a link there is refused.
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { openKeylog } from '../../src/proxy/forward/keylog.js';
import { connectClient } from '../helpers/servers.js';
import { makeTestPki } from '../helpers/test-ca.js';
import { startHarness } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it('reverse mode: the upstream leg’s TLS keys of an upgrade and of a plain request, mode 0600; a link is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-keylog-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pki = makeTestPki();
  const server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d as Buffer)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const file = path.join(dir, 'keys.log');
  const keylog = openKeylog(file);
  cleanups.push(() => keylog.close());
  const h = await startHarness(`wss://localhost:${(server.address() as AddressInfo).port}`, { insecure: true, keylog });
  cleanups.push(() => h.proxy.stop());
  const c = await connectClient(`${h.wsUrl}/k`);
  cleanups.push(() => c.ws.terminate());
  c.ws.send('keyed');
  await c.message(0);
  expect(await (await fetch(`${h.proxy.url}/plain`)).text()).toBe('ok');
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  expect(lines.every((l) => /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+$/.test(l))).toBe(true);
  expect(new Set(lines.filter((l) => l.startsWith('CLIENT_TRAFFIC_SECRET_0 ')).map((l) => l.split(' ')[1])).size).toBe(2);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);

  const link = path.join(dir, 'link.log');
  fs.symlinkSync(path.join(dir, 'elsewhere.log'), link);
  expect(() => openKeylog(link)).toThrow(/symbolic link/);
  expect(fs.existsSync(path.join(dir, 'elsewhere.log'))).toBe(false);
});
