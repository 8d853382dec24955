/**
 * Closing the terminal under the dashboard (SIGHUP): frametap cleans up as for SIGTERM, then ends
 * by the hangup (exit status 128+1), not by Node's assertion abort while restoring a terminal that
 * no longer exists (status 134).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { itWith } from '../helpers/system-deps.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOCKET = `frametap-hup-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const dir = mkdtempSync(path.join(tmpdir(), 'frametap-hup-'));

afterAll(() => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  rmSync(dir, { recursive: true, force: true });
});

itWith('tmux')('the dashboard whose terminal closes exits by the hangup (129), with its temporary files removed', async () => {
  const status = path.join(dir, 'status');
  const tmp = path.join(dir, 'tmp');
  execFileSync('mkdir', ['-p', tmp]);
  // The shell survives the hangup (it ignores it) only to report frametap's exit status.
  tmux('new-session', '-d', '-s', 'h', '-x', '160', '-y', '40', '-c', ROOT, `sh -c 'trap "" HUP; TMPDIR=${tmp} node bin/frametap.js demo 2>/dev/null; echo $? > ${status}'`);
  const up = Date.now() + 15_000;
  while (!/connections/.test(tmux('capture-pane', '-t', 'h', '-p')) && Date.now() < up) await new Promise((r) => setTimeout(r, 100));
  tmux('kill-server');
  const deadline = Date.now() + 15_000;
  while (!existsSync(status) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(readFileSync(status, 'utf8').trim()).toBe('129');
  // Nothing of frametap's left behind in its temporary directory (a temporary capture may hold
  // tokens); tsx keeps its own cache there.
  const left = execFileSync('ls', ['-A', tmp], { encoding: 'utf8' }).split('\n').filter((n) => n !== '' && !n.startsWith('tsx-'));
  expect(left).toEqual([]);
}, 40_000);
