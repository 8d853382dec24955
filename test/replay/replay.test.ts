import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { withTimeout } from '../helpers/deferred.js';
import type { AddressInfo } from 'node:net';
import type { HandshakeEvent } from '../../src/session/events.js';
import type { CapturedFrame } from '../../src/capture/capture-object.js';
import { ScenarioClient, conversation, eventsOf, messageShape, recordCapture, runCli, runInProcess, startAppServer, startCli, type AppServer } from './peers.js';

let dir: string;
let capture: string;
/** The server the capture was recorded against; every replay here goes to a fresh one of the same kind. */
let recordedAgainst: AppServer;
const servers: AppServer[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'frametap-replay-'));
  capture = join(dir, 'conversation.jsonl');
  recordedAgainst = await startAppServer();
  await recordCapture(capture, recordedAgainst.url, conversation);
});

afterAll(async () => {
  await recordedAgainst.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function server(options: Parameters<typeof startAppServer>[0] = {}): Promise<AppServer> {
  const s = await startAppServer(options);
  servers.push(s);
  return s;
}

describe('replay against a real server', () => {
  it.each(['original', 'fast', '2x', 'reactive'])('--pace %s sends the same messages and --check passes', async (pace) => {
    const target = await server();
    const out = join(dir, `replay-${pace}.jsonl`);
    const r = await runInProcess(['replay', capture, '-u', target.url, '--pace', pace, '--check', '-w', out, '--ui', 'none']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);

    const original = await eventsOf(capture);
    const replayed = await eventsOf(out);
    // Same content, frame count, compression flag and order, as the server saw them.
    expect(messageShape(replayed, 'client')).toEqual(messageShape(original, 'client'));
    expect(messageShape(replayed, 'client')).toHaveLength(4);
    expect(messageShape(replayed, 'server')).toEqual(messageShape(original, 'server'));
    const pings = (evs: typeof original): string[] =>
      evs.filter((e): e is CapturedFrame => e.type === 'frame' && e.opcode === 9 && e.from === 'client').map((f) => f.payload ?? '');
    expect(pings(replayed)).toEqual(pings(original));
    expect(replayed.find((e) => e.type === 'close' && e.from === 'client')).toMatchObject({ code: 1000, reason: 'bye' });
    expect(replayed.find((e) => e.type === 'end')).toMatchObject({ code: 1000, clean: true });
    // Same path, query and subprotocol; permessage-deflate negotiated again.
    const hs = replayed.find((e): e is HandshakeEvent => e.type === 'handshake')!;
    expect(hs.request.target).toBe('/chat?room=1');
    expect(hs.protocol).toBe('chat');
    expect(hs.extensions.map((x) => x.name)).toEqual(['permessage-deflate']);
    const header = JSON.parse(readFileSync(out, 'utf8').split('\n')[0]!) as { mode: string };
    expect(header.mode).toBe('replay');
    // And the server itself got them, in order.
    expect(target.received[0]!.map((m) => m.data.toString('hex'))).toEqual(recordedAgainst.received[0]!.map((m) => m.data.toString('hex')));
  });

  it('--check against a server that answers differently: exit 1, the diff names the message; --ignore fixes it', async () => {
    const target = await server({ volatile: true });
    const r = await runInProcess(['replay', capture, '-u', target.url, '--pace', 'fast', '--check', '--ui', 'none']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('conn 1: server message #1 differs');
    expect(r.stdout).toContain('"type": "welcome"');
    expect(r.stdout).toMatch(/"ts": \d+/);
    expect(r.stdout).not.toContain('server message #4');

    const ok = await runInProcess(['replay', capture, '-u', target.url, '--pace', 'fast', '--check', '--ignore', '$.ts', '--ui', 'log']);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('the answers match (5 server messages on 1 connection)');
  });

  it('--frames with --ui log: a line for every frame of what was replayed, one per message without it', async () => {
    const target = await server();
    const messages = await runInProcess(['replay', capture, '-u', target.url, '--pace', 'fast', '--ui', 'log']);
    const frames = await runInProcess(['replay', capture, '-u', await server().then((s) => s.url), '--pace', 'fast', '--ui', 'log', '--frames']);
    expect(messages.code).toBe(0);
    expect(frames.code).toBe(0);
    // Control frames always get a line; data frames only with --frames: 'frag-mented' was sent as three.
    const dataFrames = (out: string): string[] => out.split('\n').filter((l) => /#1 → frame (text|cont) /.test(l)).map((l) => l.replace(/^\S+ /, ''));
    expect(dataFrames(messages.stdout)).toEqual([]);
    expect(dataFrames(frames.stdout)).toContain('#1 → frame text MASK 5 B "frag-"');
    expect(dataFrames(frames.stdout)).toContain('#1 → frame cont MASK 3 B "men"');
    expect(dataFrames(frames.stdout)).toContain('#1 → frame cont FIN,MASK 3 B "ted"');
  });

  it('a capture cut off mid-line: one warning, and the complete part is replayed', async () => {
    const cut = join(dir, 'cut.jsonl');
    const lines = readFileSync(capture, 'utf8').split('\n').filter((l) => l !== '');
    // Keep up to the second client message, then half of the next line.
    const idx = lines.findIndex((l) => l.includes('"text":"frag-mented"'));
    writeFileSync(cut, `${lines.slice(0, idx + 1).join('\n')}\n`);
    appendFileSync(cut, lines[idx + 1]!.slice(0, 25));
    const target = await server();
    const r = await runInProcess(['replay', cut, '-u', target.url, '--pace', 'fast', '--ui', 'log']);
    expect(r.code).toBe(0);
    expect(r.stderr.match(/warning/g)).toHaveLength(1);
    expect(r.stderr).toMatch(/cut off/);
    expect(target.received[0]!.map((m) => m.data.toString())).toEqual(['hello', 'frag-mented']);
  });
});

describe('replay, interrupted', () => {
  it('SIGINT during a long replay: the progress line, then exit 0 with the capture flushed', async () => {
    const target = await server();
    const out = join(dir, 'interrupted.jsonl');
    // 0.0001x stretches the capture's few milliseconds to minutes.
    const cli = startCli(['replay', capture, '-u', target.url, '--pace', '0.0001x', '-w', out, '--ui', 'log']);
    await cli.waitForStderr(/frametap replay: 0\/4 messages sent, \d+\.\d s\n/);
    const done = await cli.stop('SIGINT');
    expect(done.code).toBe(0);
    expect(done.stderr).toContain('frametap replay: interrupted after 0 messages sent');
    const events = await eventsOf(out);
    expect(events.filter((e) => e.type === 'open')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'end')).toHaveLength(1);
  });
});

describe('replay --conn all', () => {
  it('replays every connection concurrently, each with its own messages, and --check passes', async () => {
    const app = await server();
    const two = join(dir, 'two.jsonl');
    await recordCapture(two, app.url, async (url) => {
      const a = new ScenarioClient(url);
      const b = new ScenarioClient(url.replace('room=1', 'room=2'));
      await Promise.all([a.opened(), b.opened()]);
      await Promise.all([a.received(1), b.received(1)]);
      a.ws.send('from a');
      b.ws.send(Buffer.from('from b'));
      await Promise.all([a.received(2), b.received(2)]);
      a.ws.close(1000);
      b.ws.close(4001, 'b done');
      await Promise.all([a.closed.promise, b.closed.promise]);
    });
    const target = await server();
    const r = await runInProcess(['replay', two, '-u', target.url, '--conn', 'all', '--pace', '2x', '--check', '--ui', 'none']);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
    const got = target.received.map((msgs) => msgs.map((m) => m.data.toString())).sort();
    expect(got).toEqual([['from a'], ['from b']]);

    const one = await runInProcess(['replay', two, '-u', target.url, '--conn', '2', '--pace', 'fast', '--check', '--ui', 'none']);
    expect(one.code).toBe(0);
    expect(target.received).toHaveLength(3);
  });
});

describe('replay of a refused handshake', () => {
  it('passes --check when the server refuses again, differs when it accepts', async () => {
    const refuser = http.createServer();
    refuser.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
    await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve));
    const refuserUrl = `ws://127.0.0.1:${(refuser.address() as AddressInfo).port}`;
    try {
      const cap = join(dir, 'refused.jsonl');
      await recordCapture(cap, refuserUrl, async (url) => {
        const ws = new WebSocket(url);
        ws.on('error', () => undefined);
        await withTimeout(new Promise((resolve) => ws.on('unexpected-response', (_q, res) => resolve(res.resume()))), '401');
        ws.terminate();
      });
      const same = await runInProcess(['replay', cap, '--pace', 'fast', '--check', '--ui', 'none']);
      expect(same.code).toBe(0);
      const accepting = await server();
      const differs = await runInProcess(['replay', cap, '-u', accepting.url, '--pace', 'fast', '--check', '--ui', 'none']);
      expect(differs.code).toBe(1);
      expect(differs.stdout).toContain('conn 1: handshake differs: captured 401, now 101');
    } finally {
      refuser.closeAllConnections();
      await new Promise<void>((resolve) => refuser.close(() => resolve()));
    }
  });
});

describe('replay: bad input and unreachable servers', () => {
  it('a missing file: one line, exit 2', async () => {
    const r = await runCli(['replay', join(dir, 'nope.jsonl')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('nope.jsonl');
  });

  it('no such --conn: one line naming the connections there are, exit 2', async () => {
    const r = await runInProcess(['replay', capture, '--conn', '7', '-u', 'ws://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('has no connection 7 (it has: 1)');
  });

  it('bad --pace and bad --ignore: one line, exit 2', async () => {
    const pace = await runInProcess(['replay', capture, '--pace', 'slowly']);
    expect(pace.code).toBe(2);
    expect(pace.stderr).toMatch(/^frametap: bad --pace 'slowly'/);
    const ignore = await runInProcess(['replay', capture, '--check', '--ignore', 'ts']);
    expect(ignore.code).toBe(2);
    expect(ignore.stderr).toMatch(/^frametap: bad --ignore path 'ts'/);
  });

  it('reactive: a server that never answers is reported after --timeout, exit 3', async () => {
    const silent = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await new Promise((resolve) => silent.once('listening', resolve));
    try {
      const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const r = await runInProcess(['replay', capture, '-u', url, '--pace', 'reactive', '--check', '--timeout', '0.5', '--ui', 'none']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^frametap: replay could not run: conn 1: waited 0\.5 s \(--timeout\) for server message #1; 0 arrived\n$/);
    } finally {
      for (const c of silent.clients) c.terminate();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a server that stops answering: the close waits --timeout, says so, and --check lists what is missing', async () => {
    const mute = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    mute.on('connection', (ws) => ws.send(JSON.stringify({ type: 'welcome' })));
    await new Promise((resolve) => mute.once('listening', resolve));
    try {
      const url = `ws://127.0.0.1:${(mute.address() as AddressInfo).port}`;
      const r = await runInProcess(['replay', capture, '-u', url, '--pace', 'fast', '--check', '--timeout', '0.3', '--ui', 'none']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('conn 1: server message #5 did not arrive within 0.3 s (--timeout); closing anyway');
      expect(r.stdout).not.toContain('server message #1 ');
      expect(r.stdout).toContain('conn 1: server message #2 was not sent by the server');
      expect(r.stdout).toContain('conn 1: server message #5 was not sent by the server');
    } finally {
      for (const c of mute.clients) c.terminate();
      await new Promise((resolve) => mute.close(resolve));
    }
  });

  it('an unreachable -u: exit 3 with one clear line', async () => {
    // A port that was just free: nothing listens there.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const r = await runCli(['replay', capture, '-u', `ws://127.0.0.1:${port}`, '--check', '--timeout', '3', '--ui', 'none']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^frametap: replay could not run: .*ECONNREFUSED/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
