/**
 * Issue 7, "Secrets": `--redact NAME` (a header such as Authorization or Cookie, or a query
 * parameter) writes the value as `<redacted>` in the capture, the HAR export and on the bus the
 * dashboard reads, while the traffic itself reaches the upstream untouched.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { buildHar } from '../../src/capture/har-export.js';
import { ev, readCaptured } from '../helpers/captured.js';
import { Cleanup, deferred, ofType, startProxyUnderTest, withTimeout } from '../helpers/hostile.js';
import { Redactor } from '../../src/session/redact.js';
import { runInProcess } from '../replay/peers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const SECRETS = ['Bearer SECRET-AUTH', 'session=SECRET-COOKIE', 's3cret-query', 'SECRET-FORWARDED'];

describe('--redact', () => {
  it('headers and query parameters are <redacted> in the capture, the bus and the HAR, untouched on the wire', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'frametap-redact-'));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const seen = deferred<{ url: string; headers: IncomingHttpHeaders }>();
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws, req) => {
      seen.resolve({ url: req.url ?? '', headers: req.headers });
      ws.on('message', (data) => ws.send(data));
    });
    cleanup.add(async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    const upstream = `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
    const capture = join(dir, 'capture.jsonl');
    const pt = await startProxyUnderTest(upstream, {
      capturePath: capture,
      redact: ['authorization', 'Cookie', 'token', 'X-Api-Key'],
      headers: [['X-Api-Key', 'SECRET-FORWARDED']],
    });
    cleanup.add(() => pt.stop());

    const ws = new WebSocket(`ws://127.0.0.1:${pt.proxy.port}/chat?room=1&token=s3cret-query&x=2`, {
      headers: { Authorization: 'Bearer SECRET-AUTH', Cookie: 'session=SECRET-COOKIE' },
    });
    cleanup.add(() => ws.terminate());
    const echoed = deferred<void>();
    ws.on('open', () => ws.send('hi'));
    ws.on('message', () => echoed.resolve());
    ws.on('error', (error) => echoed.reject(error));
    await withTimeout(echoed.promise, 5000, 'the echo');
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.close(1000);
    await withTimeout(closed, 5000, 'close');
    await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');

    // The traffic is untouched: the upstream got every secret.
    const upstreamSaw = await seen.promise;
    expect(upstreamSaw.url).toBe('/chat?room=1&token=s3cret-query&x=2');
    expect(upstreamSaw.headers.authorization).toBe('Bearer SECRET-AUTH');
    expect(upstreamSaw.headers.cookie).toBe('session=SECRET-COOKIE');
    expect(upstreamSaw.headers['x-api-key']).toBe('SECRET-FORWARDED');

    // What the dashboard and every sink read: the bus.
    const onBus = JSON.stringify(pt.events);
    for (const secret of SECRETS) expect(onBus).not.toContain(secret);
    expect(ofType(pt.events, 'open')[0]!.target).toBe(`${upstream}/chat?room=1&token=<redacted>&x=2`);
    const handshake = ofType(pt.events, 'handshake')[0]!;
    expect(handshake.request.target).toBe('/chat?room=1&token=<redacted>&x=2');
    const header = (list: ReadonlyArray<readonly [string, string]>, name: string) => list.find(([n]) => n.toLowerCase() === name)?.[1];
    expect(header(handshake.request.headers, 'authorization')).toBe('<redacted>');
    expect(header(handshake.request.headers, 'cookie')).toBe('<redacted>');
    expect(header(handshake.forwarded!.headers, 'x-api-key')).toBe('<redacted>');
    expect(header(handshake.forwarded!.headers, 'authorization')).toBe('<redacted>');
    expect(header(handshake.request.headers, 'upgrade')).toBe('websocket');

    await pt.stop();
    const file = readFileSync(capture, 'utf8');
    for (const secret of SECRETS) expect(file).not.toContain(secret);
    expect(file).toContain('<redacted>');

    const { header: captureHeader, events } = await readCaptured(capture);
    const har = JSON.stringify(buildHar(captureHeader, events.map(ev), 'test'));
    for (const secret of SECRETS) expect(har).not.toContain(secret);
    expect(har).toContain('<redacted>');
    expect(har).toContain('token=<redacted>');
  });
});

describe('--redact: query forms servers read as the same parameter (issue 11)', () => {
  const r = new Redactor(['token']);

  it('array and map syntax: token[]=S, token[0]=S, token[a][b]=S, percent-encoded brackets', () => {
    expect(r.target('/p?token[]=S1&token[]=S2&x=1')).toBe('/p?token[]=<redacted>&token[]=<redacted>&x=1');
    expect(r.target('/p?token[0]=S&token[a][b]=S&token%5B%5D=S')).toBe('/p?token[0]=<redacted>&token[a][b]=<redacted>&token%5B%5D=<redacted>');
    // Other names that only start alike are not the parameter.
    expect(r.target('/p?tokens=1&token_x=2&xtoken[]=3&token[=4')).toBe('/p?tokens=1&token_x=2&xtoken[]=3&token[=4');
  });

  it('; as a separator: a=1;token=S, keeping each separator as it was', () => {
    expect(r.target('/p?a=1;token=S&b=2;c=3')).toBe('/p?a=1;token=<redacted>&b=2;c=3');
    expect(r.target('/p?token=S;token[]=T#f')).toBe('/p?token=<redacted>;token[]=<redacted>#f');
  });

  it('through the real proxy: the bus, the capture and the HAR never hold the value, the upstream gets it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'frametap-redact-'));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const seen = deferred<string>();
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws, req) => {
      seen.resolve(req.url ?? '');
      ws.close(1000);
    });
    cleanup.add(async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    const capture = join(dir, 'capture.jsonl');
    const pt = await startProxyUnderTest(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`, { capturePath: capture, redact: ['token'] });
    cleanup.add(() => pt.stop());
    const target = '/chat?token[]=ARRAY-SECRET&a=1;token=SEMI-SECRET';
    const ws = new WebSocket(`ws://127.0.0.1:${pt.proxy.port}${target}`);
    ws.on('error', () => undefined);
    await withTimeout(new Promise<void>((resolve) => ws.once('close', () => resolve())), 5000, 'close');
    await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');
    expect(await seen.promise).toBe(target);
    await pt.stop();
    const { header: captureHeader, events } = await readCaptured(capture);
    for (const text of [JSON.stringify(pt.events), readFileSync(capture, 'utf8'), JSON.stringify(buildHar(captureHeader, events.map(ev), 'test'))]) {
      expect(text).not.toContain('ARRAY-SECRET');
      expect(text).not.toContain('SEMI-SECRET');
    }
    expect(ofType(pt.events, 'handshake')[0]!.request.target).toBe('/chat?token[]=<redacted>&a=1;token=<redacted>');
  });
});

describe('-u URL with a query (issue 11)', () => {
  it('is refused with one line that says why and what to do, before listening and without echoing the value', async () => {
    const r = await runInProcess(['proxy', '-u', 'ws://127.0.0.1:9/socket?apikey=U-SECRET', '-l', '0', '--ui', 'none']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^frametap: bad upstream URL 'ws:\/\/127\.0\.0\.1:9\/socket\?…': a query in -u is not forwarded/);
    expect(r.stderr).not.toContain('U-SECRET');
    expect(r.stdout).toBe('');
  });

  it('host:port without a scheme suggests ws://', async () => {
    for (const [given, suggested] of [['localhost:9000', 'ws://localhost:9000'], ['127.0.0.1:9000/api', 'ws://127.0.0.1:9000/api'], ['[::1]:9000', 'ws://[::1]:9000']]) {
      const r = await runInProcess(['proxy', '-u', given!, '-l', '0', '--ui', 'none']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`did you mean ${suggested}?`);
    }
    const ftp = await runInProcess(['proxy', '-u', 'ftp://h/', '-l', '0', '--ui', 'none']);
    expect(ftp.stderr).toContain('scheme must be ws, wss, http or https');
    expect(ftp.stderr).not.toContain('did you mean');
  });
});
