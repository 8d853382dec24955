/** `frametap view` without a terminal: --ui log / jsonl print, --ui tui is a usage error. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFrametap } from '../helpers/cli-run.js';
import { readCaptured } from '../helpers/captured.js';
import { writeHostileCapture } from './hostile-capture.js';

const ROOT = path.resolve(__dirname, '../..');
const CAPTURE = 'fixtures/captures/view-chat.jsonl';

const frametap = runFrametap;


describe('frametap view (no terminal)', () => {
  it('--ui log of a crafted capture writes no control, C1, DEL or bidi byte from any field (--frames too)', async () => {
    const file = await writeHostileCapture();
    try {
      for (const extra of [[], ['--frames']]) {
        const r = await frametap(['view', file, '--ui', 'log', ...extra]);
        expect(r.code).toBe(0);
        const raw = Buffer.from(r.stdout, 'utf8').toString('latin1');
        expect(raw).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
        expect(raw).not.toMatch(/\xc2[\x80-\x9f]/);
        expect(raw).not.toMatch(/\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]/);
        expect(r.stdout).toContain('handshake 101 OK\\u001b]0;pwned-title');
        expect(r.stdout).toContain('VIOLATION rule\\u001b]0;pwned-title');
      }
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('a file that is not a capture (a services list, a PNG) is a usage error: one line, exit 2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-notcapture-'));
    try {
      const services = path.join(dir, 'services');
      fs.writeFileSync(services, Array.from({ length: 300 }, (_, i) => `svc${i}\t${i}/tcp\t# comment`).join('\n'));
      const png = path.join(dir, 'image.png');
      fs.writeFileSync(png, Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(200, 7)]));
      for (const file of [services, png]) {
        for (const ui of ['log', 'jsonl']) {
          const r = await frametap(['view', file, '--ui', ui]);
          expect(r.code).toBe(2);
          expect(r.stdout).toBe('');
          expect(r.stderr.trim().split('\n')).toHaveLength(1);
          expect(r.stderr).toContain('is neither a frametap capture nor a HAR');
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

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

  it('--ui log prints one line per message with its frame flags; --frames one line per event', async () => {
    const r = await frametap(['view', CAPTURE, '--ui', 'log']);
    expect(r.code).toBe(0);
    const original = await readCaptured(path.join(ROOT, CAPTURE));
    const events = original.events;
    const dataFrames = events.filter((e) => e.type === 'frame' && e.opcode <= 2).length;
    const closeFrames = events.filter((e) => e.type === 'frame' && e.opcode === 8).length;
    expect(r.stdout.trim().split('\n')).toHaveLength(events.length - dataFrames - closeFrames);
    expect(r.stdout).toContain('1006 (Abnormal Closure)');
    expect(r.stdout).toContain('→ message text MASK 30 B 3 frames "part one, part two, part three"');
    expect(r.stdout).toContain('← message text FIN,RSV1 5 B deflate "Hello"');
    const all = await frametap(['view', CAPTURE, '--ui', 'log', '--frames']);
    expect(all.stdout.trim().split('\n')).toHaveLength(events.length);
  });
});
