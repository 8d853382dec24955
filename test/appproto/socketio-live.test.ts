/**
 * A real Socket.IO server and client (websocket transport) through frametap: events, acks,
 * binary attachments both ways and a second namespace, decoded and paired from the proxy's events.
 */
import * as http from 'node:http';
import { PassThrough } from 'node:stream';
import { Server } from 'socket.io';
import { Manager } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { AppViews, type AppNote } from '../../src/appproto/connection-app.js';
import { appLogAnnotator } from '../../src/sinks/app-log.js';
import { startLineLog } from '../../src/sinks/line-log.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { startHarness, type Harness } from '../proxy/harness.js';

let h: Harness | undefined;
let io: Server | undefined;
let httpServer: http.Server | undefined;
let manager: Manager | undefined;

afterEach(async () => {
  manager?.engine?.close();
  await h?.proxy.stop();
  if (io) await new Promise<void>((resolve) => io!.close(() => resolve()));
  httpServer?.closeAllConnections();
  h = io = httpServer = manager = undefined;
});

async function startSocketIo(): Promise<string> {
  httpServer = http.createServer();
  io = new Server(httpServer, { transports: ['websocket'] });
  io.on('connection', (socket) => {
    socket.on('chat', (msg: { text: string }, ack: (r: unknown) => void) => ack({ ok: true, echo: msg.text }));
    socket.on('upload', (file: Buffer, ack: (r: unknown) => void) => ack(Buffer.from([file.length])));
    socket.emit('welcome', { file: Buffer.from('hello') });
  });
  io.of('/admin').on('connection', (socket) => {
    socket.on('status', (ack: (r: unknown) => void) => ack('up'));
  });
  await new Promise<void>((resolve) => httpServer!.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

describe('Socket.IO through frametap', () => {
  it('events, acks, binary attachments and namespaces are decoded and acks paired with their latency', async () => {
    h = await startHarness(await startSocketIo());
    const out = new PassThrough();
    let logged = '';
    out.on('data', (c: Buffer) => (logged += c.toString('utf8')));
    const log = startLineLog({ bus: h.bus, stream: out, color: false, annotate: appLogAnnotator() });
    const views = new AppViews();
    const notes: AppNote[] = [];
    h.bus.subscribe('app views', (e) => notes.push(...views.observe(e)));

    manager = new Manager(`http://127.0.0.1:${h.proxy.port}`, { transports: ['websocket'], reconnection: false });
    const main = manager.socket('/');
    const admin = manager.socket('/admin');
    const welcome = deferred<Buffer>();
    main.on('welcome', (m: { file: Buffer }) => welcome.resolve(m.file));
    await withTimeout(welcome.promise, 'the welcome event');
    expect(await withTimeout(main.emitWithAck('chat', { text: 'hi' }), 'chat ack')).toEqual({ ok: true, echo: 'hi' });
    expect(Buffer.from(await withTimeout(main.emitWithAck('upload', Buffer.from([1, 2, 3])), 'upload ack') as ArrayBuffer)).toEqual(Buffer.from([3]));
    expect(await withTimeout(admin.emitWithAck('status'), 'status ack')).toBe('up');
    main.disconnect();
    admin.disconnect();
    await h.event('end');
    await log.close();

    const summaries = notes.flatMap((n) => (n.kind === 'message' && n.view.summary ? [n.view.summary] : []));
    expect(summaries[0]).toMatch(/^engine\.io open sid /);
    expect(summaries).toEqual(
      expect.arrayContaining([
        'socket.io welcome (awaiting 1 attachment)',
        'socket.io welcome +1 binary',
        'socket.io chat ack 0',
        'socket.io upload ack 1 (awaiting 1 attachment)',
        'socket.io upload ack 1 +1 binary',
        'socket.io status /admin ack 0',
        'socket.io disconnect /',
        'socket.io disconnect /admin',
      ]),
    );
    for (const reply of ['socket.io ack 0', 'socket.io ack 1 (awaiting 1 attachment)', 'socket.io ack 0 /admin', 'socket.io connect /', 'socket.io connect /admin']) {
      expect(summaries.some((s) => s.startsWith(`${reply} (reply in `)), reply).toBe(true);
    }
    const end = notes.find((n): n is Extract<AppNote, { kind: 'end' }> => n.kind === 'end')!;
    // CONNECT / and /admin, chat, upload, status: five requests, each answered.
    expect(end.stats).toMatchObject({ requests: 5, replies: 5, unanswered: 0, unmatched: 0 });
    expect(end.stats.p50).toBeGreaterThanOrEqual(0);

    // The log line of a reply carries the summary and the latency; the end is followed by the figures.
    expect(logged).toMatch(/#1 ← message text \d+ B "430\[\{\\"ok\\":true,\\"echo\\":\\"hi\\"\}\]" · socket\.io ack 0 \(reply in [\d.]+ (ms|s)\)\n/);
    expect(logged).toMatch(/#1 → message binary 3 B <01 02 03> · socket\.io upload ack 1 \+1 binary\n/);
    expect(logged).toMatch(/#1 pairs: 5 req \/ 5 rep, p50 [\d.]+ ms, p99 [\d.]+ ms\n/);
  });
});
