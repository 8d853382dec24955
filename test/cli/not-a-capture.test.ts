/**
 * Every command that reads a capture (`export`, `replay`, `serve`, as `view` already did) refuses a
 * file that is not one: one stderr line, exit 2, nothing written — not a "not JSON" warning per line
 * followed by an empty HAR and exit 0.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFrametap } from '../helpers/cli-run.js';


const frametap = runFrametap;


describe('a file that is not a capture', () => {
  it('export, replay and serve: one line, exit 2, no output file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-notcapture-'));
    try {
      const services = path.join(dir, 'services');
      fs.writeFileSync(services, Array.from({ length: 30 }, (_, i) => `svc${i}\t${i}/tcp\t# comment`).join('\n'));
      const out = path.join(dir, 'out');
      const runs: readonly (readonly string[])[] = [
        ['export', services, '--har', out],
        ['export', services, '--jsonl', out],
        ['export', services, '--pcapng', out],
        ['replay', services, '-u', 'ws://127.0.0.1:9'],
        ['serve', services, '-l', '127.0.0.1:0'],
      ];
      for (const args of runs) {
        const r = await frametap(args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toContain('is neither a frametap capture nor a HAR');
        expect(fs.existsSync(out)).toBe(false);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
