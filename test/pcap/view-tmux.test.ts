/**
 * `view FILE.pcapng` in the dashboard (a real terminal: tmux) streams the file as a JSON Lines
 * capture does: the dashboard keeps a bounded window, the rows it evicts go to its private spill
 * file (0600 in a 0700 directory under TMPDIR) and are read back from there when scrolled to; the
 * spill is removed on q.
 */
import * as fs from 'node:fs';
import { expectPrivateSpill, filesBelow } from '../helpers/spill-files.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { itWith } from '../helpers/system-deps.js';
import { killTmuxServer, TmuxSession } from '../ui/tmux.js';
import { composeTextCapture, rowText } from './compose.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** More rows than the dashboard keeps in memory (its store's window is 20 000 rows). */
const MESSAGES = 15_000;


describe('view --ui tui of a pcapng', () => {
  let session: TmuxSession | null = null;
  let tmp: string | null = null;
  afterEach(() => {
    session?.kill();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    session = tmp = null;
  });
  afterAll(() => killTmuxServer());

  itWith('tmux')('streams into the dashboard: evicted rows go to the spill file and are read back on g; nothing left after q', async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-view-pcapng-tmux-'));
    const temp = path.join(tmp, 'temp');
    fs.mkdirSync(temp);
    const file = path.join(tmp, 'rows.pcapng');
    composeTextCapture(file, { conns: 2, messages: MESSAGES });

    session = new TmuxSession();
    session.start(`TMPDIR='${temp}' node '${path.join(ROOT, 'bin/frametap.js')}' view '${file}' --ui tui`, ROOT);
    const s = session;
    // Following the newest connection: its last message's echo, then its close.
    await s.waitFor(`echo ${rowText(2, MESSAGES - 1)}`, 30_000);
    await s.waitFor('connections 2');

    // The rows it could not keep are in its private spill file.
    expectPrivateSpill(temp, rowText(2, 0));

    // g: the first row of the connection, long evicted from memory, read back.
    s.keys('g');
    await s.waitFor(rowText(2, 0), 15_000);

    s.keys('q');
    await s.waitFor('EXIT=0', 10_000);
    expect(filesBelow(temp)).toEqual([]);
  }, 90_000);

  itWith('tmux')('a pcapng cut short: what came before is shown, the warning is the notice, and printed once the dashboard is gone', async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-view-pcapng-tmux-'));
    const whole = path.join(tmp, 'whole.pcapng');
    composeTextCapture(whole, { conns: 1, messages: 2000 });
    const bytes = fs.readFileSync(whole);
    const file = path.join(tmp, 'cut.pcapng');
    // Cut inside a block about half-way.
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2) + 3));

    session = new TmuxSession();
    session.start(`node bin/frametap.js view '${file}' --ui tui`, ROOT);
    const s = session;
    const screen = await s.waitFor('cut short', 30_000);
    expect(screen).toContain('stderr: frametap: warning:');
    expect(screen).toMatch(/row 1-000[5-9]\d\d/);
    s.keys('q');
    const after = await s.waitFor('EXIT=0', 10_000);
    expect(after.replace(/\n/g, '')).toMatch(/frametap: warning: .*cut\.pcapng: the capture ends inside a block at byte \d+ \(cut short/);
  }, 60_000);
});
