/**
 * Issue 11, "replay --check must not cry wolf": against an unchanged server a check passes, at
 * every pace, including the server's own close; when the pace is the likely cause of differences
 * the diff says so; `--ignore-regex` reaches into socket.io's framing; an interrupted check
 * reports only that it was interrupted.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndEvent } from '../../src/session/events.js';
import {
  ScenarioClient,
  eventsOf,
  recordCapture,
  runInProcess,
  socketIoConversation,
  startAppServer,
  startCli,
  startSocketIoLikeServer,
  type AppServer,
} from './peers.js';
import { withTimeout } from '../helpers/deferred.js';
import { itWith } from '../helpers/system-deps.js';
import { killTmuxServer, TmuxSession } from '../ui/tmux.js';

const ROOT = join(__dirname, '../..');

let dir: string;
const servers: AppServer[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'frametap-check-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  killTmuxServer();
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function keep(server: Promise<AppServer>): Promise<AppServer> {
  const s = await server;
  servers.push(s);
  return s;
}

describe('replay --check waits for what the server did next', () => {
  let capture: string;
  beforeAll(async () => {
    capture = join(dir, 'server-closes.jsonl');
    const app = await startAppServer();
    try {
      await recordCapture(capture, app.url, async (url) => {
        const c = new ScenarioClient(url);
        await c.opened();
        await c.received(1);
        c.ws.send('hello');
        await c.received(2);
        c.ws.send('close-later');
        // The server closes 4001 after a while; the client only answers it.
        expect(await withTimeout(c.closed.promise, 'the server to close')).toMatchObject({ code: 4001 });
      });
    } finally {
      await app.close();
    }
    const end = (await eventsOf(capture)).find((e): e is EndEvent => e.type === 'end')!;
    expect(end).toMatchObject({ code: 4001, initiator: 'server' });
  });

  it.each(['original', '2x', 'reactive', 'fast'])('a capture whose server closed with 4001 passes --check at --pace %s', async (pace) => {
    const target = await keep(startAppServer());
    const out = join(dir, `closes-${pace}.jsonl`);
    const r = await runInProcess(['replay', capture, '-u', target.url, '--pace', pace, '--check', '-w', out, '--ui', 'log']);
    // stdout carries the log lines (--ui log); a diff would be lines starting `conn N:`.
    expect(r.stdout).not.toMatch(/^conn \d+: /m);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('the answers match (2 server messages on 1 connection)');
    const end = (await eventsOf(out)).find((e): e is EndEvent => e.type === 'end')!;
    expect(end).toMatchObject({ code: 4001, initiator: 'server', clean: true });
  });

  it('a server that no longer closes: the replay closes after --timeout, says so, and --check reports the close', async () => {
    const target = await keep(startAppServer());
    const noClose = join(dir, 'no-close.jsonl');
    // The same capture with the request renamed, so the server does not close.
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(noClose, readFileSync(capture, 'utf8').replaceAll('"text":"close-later"', '"text":"stay-open"'));
    const r = await runInProcess(['replay', noClose, '-u', target.url, '--pace', 'reactive', '--check', '--timeout', '0.3', '--ui', 'none']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('conn 1: the server did not close within 0.3 s (--timeout) as it did in the capture (4001); closing');
    // The extra echo of "stay-open" and the close code differ; nothing about pacing (the order was kept).
    expect(r.stdout).toContain('close code differs: captured 4001');
    expect(r.stdout).not.toContain('pacing');
  });
});

describe('replay --check of socket.io framing', () => {
  let capture: string;
  beforeAll(async () => {
    capture = join(dir, 'socketio.jsonl');
    const app = await startSocketIoLikeServer();
    try {
      await recordCapture(capture, app.url, socketIoConversation);
    } finally {
      await app.close();
    }
  });
  const MASKS = ['--ignore-regex', '"sid":"[^"]*"', '--ignore-regex', '"id":"[^"]*"'];

  it('session ids inside the framing differ without --ignore-regex, and match with it', async () => {
    const target = await keep(startSocketIoLikeServer());
    const plain = await runInProcess(['replay', capture, '-u', target.url, '--pace', 'reactive', '--check', '--ui', 'none']);
    expect(plain.code).toBe(1);
    for (const n of [1, 2, 3, 4]) expect(plain.stdout).toContain(`conn 1: server message #${n} differs`);
    // --ignore reaches into JSON inside app-protocol framing (docs/app-protocols.md), where $.sid
    // is the path of one of the four volatile values: three differences stay.
    const paths = await runInProcess(['replay', capture, '-u', target.url, '--pace', 'reactive', '--check', '--ignore', '$.sid', '--ui', 'none']);
    expect(paths.stdout.match(/differs/g)).toHaveLength(3);


    const masked = await runInProcess(['replay', capture, '-u', target.url, '--pace', 'reactive', '--check', ...MASKS, '--ui', 'log']);
    expect(masked.stdout).not.toMatch(/^conn \d+: /m);
    expect(masked.code).toBe(0);
    expect(masked.stderr).toContain('the answers match (4 server messages on 1 connection)');
  });

  it('--pace fast: the missing answers are put down to the pacing, with --pace reactive suggested', async () => {
    const target = await keep(startSocketIoLikeServer());
    const r = await runInProcess(['replay', capture, '-u', target.url, '--pace', 'fast', '--check', '--timeout', '0.5', ...MASKS, '--ui', 'none']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('conn 1: server message #3 was not sent by the server');
    expect(r.stdout).toMatch(/conn 1: likely caused by the pacing: with --pace fast, \d client messages went out before the server's answers that preceded them in the capture had arrived; try --pace reactive/);
    // The last line of the diff is the hint.
    expect(r.stdout.trimEnd().split('\n').pop()).toContain('try --pace reactive');
  });

  it('--ignore-regex without --check, and a bad one, are usage errors', async () => {
    const alone = await runInProcess(['replay', capture, '--ignore-regex', 'x']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toBe('frametap: replay: --ignore-regex only applies with --check\n');
    const bad = await runInProcess(['replay', capture, '--check', '--ignore-regex', '[']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^frametap: bad --ignore-regex '\[': .*\n$/);
  });
});

describe('replay --check, interrupted', () => {
  it('SIGINT: one line saying it was interrupted, exit 3, no diff', async () => {
    const capture = join(dir, 'long.jsonl');
    const app = await keep(startAppServer());
    await recordCapture(capture, app.url, async (url) => {
      const c = new ScenarioClient(url);
      await c.opened();
      await c.received(1);
      for (let i = 1; i <= 20; i++) {
        c.ws.send(`m${i}`);
        await c.received(i + 1);
      }
      c.ws.close(1000);
      await withTimeout(c.closed.promise, 'close');
    });
    const target = await keep(startAppServer());
    // 0.0001x stretches the capture to minutes: the interrupt comes while most answers are still due.
    const cli = startCli(['replay', capture, '-u', target.url, '--pace', '0.0001x', '--check', '--ui', 'log']);
    await cli.waitForStderr(/frametap replay: \d+\/20 messages sent/);
    const done = await cli.stop('SIGINT');
    expect(done.code).toBe(3);
    expect(done.stdout).not.toMatch(/^conn \d+: /m);
    expect(`${done.stdout}${done.stderr}`).not.toContain('was not sent');
    expect(done.stderr.trimEnd().split('\n').pop()).toMatch(/^frametap: replay --check interrupted after \d+ messages sent: nothing was compared$/);
  });
});

describe('replay --check in the dashboard', () => {
  itWith('tmux')('the verdict is on screen when the replay ends; the diff follows once the dashboard is quit', async () => {
    const capture = join(dir, 'tui.jsonl');
    const app = await keep(startAppServer());
    await recordCapture(capture, app.url, async (url) => {
      const c = new ScenarioClient(url);
      await c.opened();
      await c.received(1);
      c.ws.send('hello');
      await c.received(2);
      c.ws.close(1000);
      await withTimeout(c.closed.promise, 'close');
    });
    // A server that answers with a timestamp: the answers differ.
    const target = await keep(startAppServer({ volatile: true }));
    const session = new TmuxSession();
    try {
      session.start(`node bin/frametap.js replay '${capture}' -u ${target.url} --pace fast --check --ui tui`, ROOT);
      await session.waitFor('the answers differ from', 15_000);
      session.keys('q');
      const after = await session.waitFor(/EXIT=\d/);
      expect(after).toContain('EXIT=1');
      expect(after).toContain('conn 1: server message #1 differs');
    } finally {
      session.kill();
    }
  });
});
