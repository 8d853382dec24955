/** `frametap export FILE --har|--jsonl|--pcapng -` writes to stdout (as `-w -` does), never a file named `-`. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const CAPTURE = path.join(ROOT, 'fixtures/captures/view-chat.jsonl');

function frametap(args: readonly string[], cwd: string): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/frametap.js'), ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
    child.stdin.end();
  });
}

describe('export to stdout', () => {
  it('OUT - is stdout for --har, --jsonl and --pcapng', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-export-stdout-'));
    try {
      const har = await frametap(['export', CAPTURE, '--har', '-'], cwd);
      expect(har.code).toBe(0);
      const parsed = JSON.parse(har.stdout.toString('utf8')) as { log: { entries: unknown[] } };
      expect(parsed.log.entries.length).toBeGreaterThan(0);
      expect(har.stderr).toContain('frametap: wrote stdout:');

      const jsonl = await frametap(['export', CAPTURE, '--jsonl', '-'], cwd);
      expect(jsonl.code).toBe(0);
      const lines = jsonl.stdout.toString('utf8').trim().split('\n');
      expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'capture', format: 'frametap-capture' });
      expect(lines.length).toBeGreaterThan(1);

      const pcapng = await frametap(['export', CAPTURE, '--pcapng', '-'], cwd);
      expect(pcapng.code).toBe(0);
      // A pcapng starts with its Section Header Block (block type 0x0A0D0D0A).
      expect(pcapng.stdout.subarray(0, 4).toString('hex')).toBe('0a0d0d0a');

      expect(fs.readdirSync(cwd)).toEqual([]);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
