/**
 * `frametap demo --ui jsonl`: within seconds the built-in traffic shows every kind of thing the
 * dashboard can display; SIGINT stops it cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/session/events.js';

const ROOT = path.resolve(__dirname, '../..');

describe('frametap demo', () => {
  let child: ChildProcess | null = null;
  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    child = null;
  });

  it('produces chat, binary, fragments, deflate, ping/pong, a violation and every kind of close', async () => {
    const proc = spawn(process.execPath, ['bin/frametap.js', 'demo', '--ui', 'jsonl'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const seen = new Set<string>();
    const wanted = [
      'text', 'binary', 'cont', 'rsv1', 'ping', 'pong', 'fragmented', 'violation:rsv2-rsv3-set',
      'end:1000', 'end:1001', 'end:1002', 'end:4000', 'end:4001', 'end:1006',
    ];
    let buffer = '';
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`missing after 20 s: ${wanted.filter((w) => !seen.has(w)).join(', ')}`)), 20_000);
      proc.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const e = JSON.parse(buffer.slice(0, nl)) as SessionEvent | { type: 'capture' };
          buffer = buffer.slice(nl + 1);
          if (e.type === 'frame') {
            seen.add({ 0: 'cont', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' }[e.opcode] ?? 'other');
            if (e.rsv1) seen.add('rsv1');
          } else if (e.type === 'message' && e.frames > 1) seen.add('fragmented');
          else if (e.type === 'violation') seen.add(`violation:${e.rule}`);
          else if (e.type === 'end') seen.add(`end:${e.code}`);
        }
        if (wanted.every((w) => seen.has(w))) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await done;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 30_000);
});
