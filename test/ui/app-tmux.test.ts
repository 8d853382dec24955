/**
 * The dashboard in a real terminal (tmux) over a live Socket.IO session through frametap:
 * event names in the log, ack latency on replies and in the connection list, `/event:chat`
 * finding the event, the detail pane showing its decoded tree.
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { Server } from 'socket.io';
import { Manager } from 'socket.io-client';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { withTimeout } from '../helpers/deferred.js';
import { itWith } from '../helpers/system-deps.js';
import { killTmuxServer, TmuxSession } from './tmux.js';

const ROOT = path.resolve(__dirname, '../..');

describe('dashboard app-protocol view in a terminal', () => {
  let session: TmuxSession | null = null;
  let io: Server | null = null;
  let httpServer: http.Server | null = null;
  let manager: Manager | null = null;
  afterEach(async () => {
    manager?.engine?.close();
    session?.kill();
    if (io) await new Promise<void>((resolve) => io!.close(() => resolve()));
    httpServer?.closeAllConnections();
    session = io = httpServer = manager = null;
  });
  afterAll(() => killTmuxServer());

  itWith('tmux')('Socket.IO: event names, ack latency, search by event, decoded tree', async () => {
    httpServer = http.createServer();
    io = new Server(httpServer, { transports: ['websocket'] });
    io.on('connection', (socket) => {
      socket.on('chat', (msg: { text: string }, ack: (r: unknown) => void) => ack({ echo: msg.text }));
      socket.on('upload', (file: Buffer, ack: (r: unknown) => void) => ack(file.length));
    });
    io.of('/admin').on('connection', (socket) => socket.on('status', (ack: (r: unknown) => void) => ack('up')));
    await new Promise<void>((resolve) => httpServer!.listen(0, '127.0.0.1', resolve));
    const { port } = httpServer.address() as { port: number };

    session = new TmuxSession();
    session.start(`node bin/frametap.js -u ws://127.0.0.1:${port} -l 127.0.0.1:0 --ui tui`, ROOT);
    const s = session;
    const banner = await s.waitFor(/127\.0\.0\.1:(\d+) → ws:\/\/127\.0\.0\.1/, 15_000);
    const proxyPort = Number(/127\.0\.0\.1:(\d+) → ws:\/\/127\.0\.0\.1/.exec(banner)![1]);

    manager = new Manager(`http://127.0.0.1:${proxyPort}`, { transports: ['websocket'], reconnection: false });
    const main = manager.socket('/');
    const admin = manager.socket('/admin');
    expect(await withTimeout(main.emitWithAck('chat', { text: 'hi' }), 'chat ack')).toEqual({ echo: 'hi' });
    expect(await withTimeout(main.emitWithAck('upload', Buffer.from([1, 2, 3])), 'upload ack')).toBe(3);
    expect(await withTimeout(admin.emitWithAck('status'), 'status ack')).toBe('up');

    // The connection list: five requests (connect / and /admin, chat, upload, status), all answered.
    await s.waitFor(/>#1 .* 5\/5, p50 [\d.]+ (ms|s), p99/, 10_000);
    // Frames of whole messages carry their message's summary too.
    expect(await s.waitFor('[ #1 frames')).toMatch(/← text .*socket\.io ack 0 \/admin \(reply in/);
    s.keys('m');
    const log = await s.waitFor('[ #1 messages');
    expect(log).toMatch(/→ text .*socket\.io status \/admin ack 0/);
    expect(log).toMatch(/← text .*socket\.io ack 0 \/admin \(reply in [\d.]+ (ms|s)\)/);

    s.keys('/');
    await s.waitFor('Enter search, Esc cancel');
    s.type('event:chat');
    s.keys('Enter');
    const found = await s.waitFor('/event:chat: row');
    expect(found).toMatch(/>\d\d:\d\d:\d\d\.\d{3} → text .*socket\.io chat ack 0/);
    expect(found).toContain('decoded: socket.io chat ack 0');
    expect(found).toContain('event: "chat"');
    expect(found).toContain('text: "hi"');
    s.keys('o');
    const folded = await s.waitFor('decoded tree folded to 1 level');
    expect(folded).toContain('socket.io EVENT: protocol 5 + (5 more)');
    s.keys('o');
    s.keys('o');
    s.keys('o');
    await s.waitFor('decoded tree unfolded');

    s.keys('/');
    await s.waitFor('Enter search, Esc cancel');
    s.type('event:upload');
    s.keys('Enter');
    const upload = await s.waitFor('/event:upload: row');
    expect(upload).toContain('socket.io upload ack 1 (awaiting 1 attachment)');

    // The filter menu's decoded-field filter: only the upload rows, and the title says so.
    s.keys('f');
    await s.waitFor('decoded fields: name:glob');
    s.keys('e');
    await s.waitFor('Enter filters, empty clears');
    s.type('event:upl*');
    s.keys('Enter');
    const filtered = await s.waitFor('filter: fields event:upl*');
    // The title is cut to the pane's width (…), never wrapped into the first row.
    expect(filtered).toMatch(/\[ #1 messages 2 .*filter: fields event:upl\*, both.*… \]/);
    expect(filtered).toContain('socket.io upload ack 1');
    expect(filtered).not.toContain('socket.io chat ack 0');

    // A plain HTTP request relayed: counted in the status bar, listed only after r.
    const polled = await withTimeout(fetch(`http://127.0.0.1:${proxyPort}/socket.io/?EIO=4&transport=polling`), 'plain request');
    await polled.arrayBuffer();
    const counted = await s.waitFor(/\| http 1/);
    expect(counted).not.toContain('GET /socket.i');
    s.keys('r');
    await s.waitFor('plain HTTP requests listed (1; r hides them)');
    // The server takes the websocket transport only: the polling request is answered 400.
    expect(await s.waitFor(/ http +- +GET \/socket\.i/)).toMatch(/#2 +http +- +GET \/socket\.i.* 400 /);

    s.keys('q');
    await s.waitFor('EXIT=0', 8000);
  }, 60_000);
});
