import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../helpers/deferred.js';
import { ScenarioClient, runInProcess, startAppServer, startCli, type AppServer, type RunningCli } from './peers.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/captures/replay-chat.jsonl', import.meta.url));

let dir: string;
let har: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'frametap-har-in-'));
  har = join(dir, 'chat.har');
  const r = await runInProcess(['export', FIXTURE, '--har', har]);
  expect(r.code).toBe(0);
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('replay and serve read a HAR', () => {
  it('replay FILE.har --check against the same kind of server passes', async () => {
    const target: AppServer = await startAppServer();
    cleanups.push(() => target.close());
    const r = await runInProcess(['replay', har, '-u', target.url, '--pace', 'reactive', '--check', '--ui', 'none']);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
    // A HAR has messages, not frames: the fragmented message arrives whole.
    expect(target.received[0]!.map((m) => (m.isBinary ? m.data.toString('base64') : m.data.toString()))).toEqual([
      'hello',
      'frag-mented',
      'AQIDBAX6',
      '{"a":[1,2,3]}',
    ]);
  });

  it('serve FILE.har plays the received messages to a client', async () => {
    const cli: RunningCli = startCli(['serve', har, '-l', '127.0.0.1:0', '--ui', 'none']);
    cleanups.push(() => cli.stop());
    const m = await cli.waitForStderr(/on (ws:\/\/\S+)\n/);
    const c = new ScenarioClient(`${m[1]}/chat?room=1`);
    await c.opened();
    await c.received(1);
    expect(JSON.parse(c.messages[0]!.data.toString())).toEqual({ type: 'welcome' });
    c.ws.send('hello');
    await c.received(2);
    expect(JSON.parse(c.messages[1]!.data.toString())).toEqual({ type: 'echo', text: 'hello', n: 1 });
    c.ws.close(1000);
    await withTimeout(c.closed.promise, 'close');
  });

  it('a HAR without WebSocket entries: one line, exit 2', async () => {
    const empty = join(dir, 'pages.har');
    writeFileSync(
      empty,
      JSON.stringify({ log: { version: '1.2', creator: { name: 'x', version: '1' }, entries: [{ request: { method: 'GET', url: 'http://a/' }, response: { status: 200 } }] } }),
    );
    for (const args of [
      ['replay', empty, '-u', 'ws://127.0.0.1:1'],
      ['serve', empty, '-l', '127.0.0.1:0'],
    ]) {
      const r = await runInProcess(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('no WebSocket entries');
    }
  });
});
