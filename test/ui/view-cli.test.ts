/** `frametap view` without a terminal: --ui log / jsonl print, --ui tui is a usage error. */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCaptured } from '../helpers/captured.js';

const ROOT = path.resolve(__dirname, '../..');
const CAPTURE = 'fixtures/captures/view-chat.jsonl';

function frametap(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/frametap.js', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe('frametap view (no terminal)', () => {
  it('--ui tui without a terminal is a usage error: one line, exit 2', async () => {
    const r = await frametap(['view', CAPTURE, '--ui', 'tui']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--ui tui needs a terminal');
  });

  it('a missing file is a usage error naming it', async () => {
    const r = await frametap(['view', 'no/such/capture.jsonl', '--ui', 'log']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("frametap: cannot read 'no/such/capture.jsonl': no such file; expected a frametap capture (.jsonl, .pcapng), a HAR, or a pcap/pcapng");
  });

  it('--ui jsonl prints the capture events back unchanged', async () => {
    const r = await frametap(['view', CAPTURE, '--ui', 'jsonl']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    const original = await readCaptured(path.join(ROOT, CAPTURE));
    expect(lines[0]).toEqual(original.header);
    expect(lines.slice(1)).toEqual(original.events);
  });

  it('--ui log prints one line per event, close codes by name', async () => {
    const r = await frametap(['view', CAPTURE, '--ui', 'log']);
    expect(r.code).toBe(0);
    const original = await readCaptured(path.join(ROOT, CAPTURE));
    expect(r.stdout.trim().split('\n')).toHaveLength(original.events.length);
    expect(r.stdout).toContain('1006 (Abnormal Closure)');
  });
});
