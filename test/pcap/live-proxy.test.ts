/**
 * The live path (issue 14): the real proxy CLI with `-w cap.pcapng --ui jsonl`, real `ws` peers
 * (deflate, fragments, ping/pong, a violation, a close, a 1006 reset). One run written both ways:
 * the events read from the pcapng equal the JSON Lines on stdout, connection by connection, and
 * tshark dissects every frame with no TCP analysis flag.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { itWith } from '../helpers/system-deps.js';
import { startScenarioServer, talkDeflate, talkReset, talkViolation } from './scenario.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'bin/frametap.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-live-pcapng-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Line = Record<string, unknown> & { type: string; conn?: number };

const parse = (text: string): Line[] => text.trim().split('\n').map((l) => JSON.parse(l) as Line).filter((e) => e.type !== 'capture');

let recorded: Promise<{ file: string; live: Line[] }> | null = null;

function record(): Promise<{ file: string; live: Line[] }> {
  recorded ??= (async () => {
    const server = await startScenarioServer();
    const file = path.join(dir, 'live.pcapng');
    const child = spawn(process.execPath, [CLI, '-u', `ws://127.0.0.1:${server.port}`, '-l', '0', '-w', file, '--ui', 'jsonl'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const listening = deferred<number>();
    child.stderr.on('data', (d: Buffer) => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(d.toString());
      if (m) listening.resolve(Number(m[1]));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const port = await withTimeout(listening.promise, 'the proxy to listen', 15_000);
      await talkDeflate(port);
      await talkViolation(port);
      await talkReset(port);
      await withTimeout((async () => {
        while ((stdout.match(/"type":"end"/g) ?? []).length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
      })(), 'three ends', 10_000);
    } finally {
      child.kill('SIGTERM');
      await exited;
      await server.close();
    }
    return { file, live: parse(stdout) };
  })();
  return recorded;
}

describe('the proxy writing -w cap.pcapng', () => {
  it('view of the pcapng gives the events the same run printed as JSON Lines', async () => {
    const { file, live } = await record();
    const { stdout, stderr } = await run(process.execPath, [CLI, 'view', file, '--ui', 'jsonl'], { maxBuffer: 64 * 1024 * 1024 });
    expect(stderr).toBe('');
    const read = parse(stdout);
    expect(live.filter((e) => e.type === 'end')).toHaveLength(3);
    for (const conn of [1, 2, 3]) {
      expect(read.filter((e) => e.conn === conn), `conn ${conn}`).toEqual(live.filter((e) => e.conn === conn));
    }
  });

  itWith('tshark')('tshark dissects every frame on both legs with no TCP analysis flag', async () => {
    const { file, live } = await record();
    const { stdout } = await run('tshark', ['-r', file, '-T', 'fields', '-e', 'websocket.opcode', '-e', 'tcp.analysis.flags', '-e', 'frame.comment', '-Y', 'websocket || tcp.analysis.flags || frame.comment'], { maxBuffer: 64 * 1024 * 1024 });
    const rows = stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    expect(rows.filter((r) => (r[1] ?? '') !== '')).toEqual([]);
    const dissected = rows.reduce((n, r) => n + ((r[0] ?? '') === '' ? 0 : r[0]!.split(',').length), 0);
    expect(dissected).toBe(live.filter((e) => e.type === 'frame').length * 2);
    expect(rows.some((r) => (r[2] ?? '').includes('rsv2-rsv3-set'))).toBe(true);
  });
});
