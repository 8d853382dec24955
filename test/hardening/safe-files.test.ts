/**
 * Issue 11, "export --har OUT follows a symlink at OUT": every file frametap creates goes through
 * safe-file.ts: mode 0600, a link planted at the path replaced and never followed (nor chmodded).
 * Real files, real links, real FIFOs; the commands run as `frametap` runs them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { openPrivateFile, writePrivateFile } from '../../src/capture/safe-file.js';
import { JsonlWriter } from '../../src/capture/jsonl-writer.js';
import { runInProcess } from '../replay/peers.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'frametap-safe-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const mode = (p: string): number => fs.statSync(p).mode & 0o777;
const CAPTURE = join(__dirname, '../../fixtures/captures/view-chat.jsonl');

/** A file another user would like frametap to overwrite and chmod. */
function plantVictim(): string {
  const victim = join(dir, 'victim.txt');
  fs.writeFileSync(victim, 'precious');
  fs.chmodSync(victim, 0o644);
  return victim;
}

describe('export --har OUT', () => {
  it('a symlink at OUT is replaced, its target neither written nor chmodded', async () => {
    const victim = plantVictim();
    const out = join(dir, 'out.har');
    fs.symlinkSync(victim, out);
    const r = await runInProcess(['export', CAPTURE, '--har', out]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    expect(mode(victim)).toBe(0o644);
    expect(fs.lstatSync(out).isFile()).toBe(true);
    expect(mode(out)).toBe(0o600);
    expect((JSON.parse(fs.readFileSync(out, 'utf8')) as { log: { entries: unknown[] } }).log.entries.length).toBeGreaterThan(0);
    // Nothing left behind but OUT and the victim.
    expect(fs.readdirSync(dir).sort()).toEqual(['out.har', 'victim.txt']);
  });

  it('a dangling symlink at OUT does not create its target', async () => {
    const target = join(dir, 'would-be-created');
    const out = join(dir, 'out.har');
    fs.symlinkSync(target, out);
    const r = await runInProcess(['export', CAPTURE, '--har', out]);
    expect(r.code).toBe(0);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.lstatSync(out).isFile()).toBe(true);
  });

  it('an existing world-readable OUT becomes 0600; a directory is exit 2 with one line', async () => {
    const out = join(dir, 'out.har');
    fs.writeFileSync(out, 'old', { mode: 0o644 });
    fs.chmodSync(out, 0o644);
    expect((await runInProcess(['export', CAPTURE, '--har', out])).code).toBe(0);
    expect(mode(out)).toBe(0o600);
    const r = await runInProcess(['export', CAPTURE, '--har', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('EISDIR');
  });
});

describe('captures (-w, replay and serve -w)', () => {
  it('replay -w through a planted symlink: replaced, the target untouched', async () => {
    const victim = plantVictim();
    const out = join(dir, 'replay.jsonl');
    fs.symlinkSync(victim, out);
    // An upstream that is not there: the capture is opened (and then abandoned) before connecting.
    const r = await runInProcess(['replay', CAPTURE, '-u', 'ws://127.0.0.1:1', '-w', out, '--ui', 'none', '--timeout', '2']);
    expect(r.code).toBe(3);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    expect(mode(victim)).toBe(0o644);
    expect(fs.lstatSync(out).isFile()).toBe(true);
    expect(mode(out)).toBe(0o600);
  });

  it('a link to a directory, and a dangling link, are replaced', async () => {
    const sub = join(dir, 'sub');
    fs.mkdirSync(sub);
    const toDir = join(dir, 'to-dir.jsonl');
    fs.symlinkSync(sub, toDir);
    const dangling = join(dir, 'dangling.jsonl');
    fs.symlinkSync(join(dir, 'nowhere'), dangling);
    const header = { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(0).toISOString(), tool: { name: 'frametap', version: '0' }, mode: 'reverse', listen: null, upstream: null } as const;
    for (const p of [toDir, dangling]) await JsonlWriter.create(p, header).close();
    expect(fs.readdirSync(sub)).toEqual([]);
    expect(fs.existsSync(join(dir, 'nowhere'))).toBe(false);
    expect(mode(toDir)).toBe(0o600);
    expect(mode(dangling)).toBe(0o600);
  });
});

describe('safe-file.ts', () => {
  it('openPrivateFile: 0600 whatever the umask, a planted link replaced', () => {
    const victim = plantVictim();
    const p = join(dir, 'c');
    fs.symlinkSync(victim, p);
    const old = process.umask(0);
    try {
      const fd = openPrivateFile(p);
      fs.writeSync(fd, 'new');
      fs.closeSync(fd);
    } finally {
      process.umask(old);
    }
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    expect(fs.readFileSync(p, 'utf8')).toBe('new');
    expect(mode(p)).toBe(0o600);
  });

  it('writePrivateFile: whole content in place by rename, a write into a FIFO goes to its reader', async () => {
    const p = join(dir, 'whole');
    writePrivateFile(p, ['a', Buffer.from('b'), 'c'.repeat(200_000)]);
    expect(fs.readFileSync(p, 'utf8')).toBe(`ab${'c'.repeat(200_000)}`);
    expect(mode(p)).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['whole']);

    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reading = fs.promises.readFile(fifo, 'utf8');
    writePrivateFile(fifo, ['through the pipe']);
    expect(await reading).toBe('through the pipe');
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
  });
});
