/**
 * The dashboard at the sizes people use: 80×24 keeps the important columns, 200 columns give the
 * path and previews the room; hex and handshake lines wrap; help scrolls; the filter shows.
 */
import { existsSync, promises as fsp, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { cap } from '../helpers/captured.js';
import { itWith } from '../helpers/system-deps.js';
import { T0, exchange, handshake } from './events.js';
import { killTmuxServer, TmuxSession } from './tmux.js';

const ROOT = path.resolve(__dirname, '../..');
const CAPTURE = 'fixtures/captures/view-chat.jsonl';
/** Cut at 160 columns (and at 22 characters before), whole at 200. */
const LONG_PATH = '/a/rather/long/path/for/a/wide/terminal?room=lobby&user=ada';

/** The detail pane's text, its wrapped lines joined. */
function detailText(screen: string): string {
  return screen
    .split('\n')
    .filter((l) => l.includes('││'))
    .map((l) => l.slice(l.indexOf('││') + 2).replace(/│\s*$/, '').trimEnd())
    .join('');
}

async function longPathCapture(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'frametap-layout-'));
  const file = path.join(dir, 'long.jsonl');
  const header = { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T0).toISOString(), tool: { name: 'frametap', version: '0.1.0' }, mode: 'reverse', listen: '127.0.0.1:1', upstream: 'ws://h' };
  const events = [
    { type: 'open', conn: 1, t: T0, client: '127.0.0.1:5000', target: `ws://127.0.0.1:9001${LONG_PATH}` },
    cap(handshake(1)),
    ...exchange(1, 'client', `{"text":"${'a long preview that goes on '.repeat(6)}END"}`).map(cap),
  ];
  await fsp.writeFile(file, `${[header, ...events].map((e) => JSON.stringify(e)).join('\n')}\n`);
  return file;
}

describe('layout', () => {
  let session: TmuxSession | null = null;
  let cleanup: string | null = null;
  afterEach(() => {
    session?.kill();
    session = null;
    if (cleanup) rmSync(cleanup, { recursive: true, force: true });
    cleanup = null;
  });
  afterAll(() => killTmuxServer());

  itWith('tmux')('80×24: every column that matters, wrapped hex and handshake, scrolling help, filter in the title', async () => {
    const s = (session = new TmuxSession());
    s.start(`node bin/frametap.js view ${CAPTURE}`, ROOT, { cols: 80, rows: 24 });
    const first = await s.waitFor('connections 2');
    const header = first.split('\n').find((l) => l.includes('state'))!;
    for (const col of ['#', 'state', 'path', 'msgs', 'bytes', 'viol', 'close']) expect(header).toContain(col);
    expect(first).toMatch(/#1 .*1000 Normal Closure/);

    // The help at 80×24 scrolls down to its last keys.
    s.keys('?');
    const top = await s.waitFor('help (Esc or ? closes');
    expect(top).toContain('g Home');
    s.keys('G');
    const bottom = await s.waitFor('in this help');
    expect(bottom).toContain('quit');
    expect(bottom).toContain('mouse: wheel scrolls');
    // Scrolling up from the bottom passes the filter menu's keys.
    s.keys('PageUp');
    await s.waitFor('in the filter menu');
    s.keys('Escape');
    await s.waitFor((t) => !t.includes('help (Esc'));

    // Connection #1, its first message in hex: wrapped to the narrow detail pane (4 bytes a line).
    s.keys('Tab', 'Tab');
    await s.waitFor('[ connections');
    s.keys('g');
    await s.waitFor(/>#1 /);
    s.keys('Tab');
    await s.waitFor('[ #1 frames');
    s.keys('m', 'g');
    await s.waitFor('message 1 → text');
    s.keys('x', 'x');
    const hex = await s.waitFor('detail (hex');
    expect(hex).toMatch(/00000000 {2}7b 22 74 79 {2}\|\{"ty\|/);
    expect(hex).toMatch(/00000004 {2}70 65 22 3a {2}\|pe":\|/);

    // The handshake's long lines wrap instead of being cut.
    s.keys('h');
    const hs = await s.waitFor('handshake #1');
    expect(detailText(hs)).toContain('connection #1 from 127.0.0.1:51234 to ws://127.0.0.1:9001/chat?room=1');
    // G in the focused handshake pane goes to its bottom (not the log's, not the top).
    s.keys('Tab');
    await s.waitFor('[ handshake #1');
    s.keys('G');
    const bottom2 = await s.waitFor('ended: 1000 Normal Closure');
    expect(bottom2).toContain('paused (F follows)');
    s.keys('g');
    await s.waitFor('connection #1 from');
    s.keys('h');

    // An active filter stays visible in the log's title.
    s.keys('f', 'd', 'Escape');
    await s.waitFor('filter: from client');

    // Unfocused borders in the terminal's own colour, not black.
    expect(s.screenWithAttributes()).not.toMatch(/\x1b\[(?:[0-9;]*;)?30m[┌─│]/);
    s.keys('q');
    await s.waitFor('EXIT=0', 8000);
  }, 45_000);

  itWith('tmux')('200 columns: the extra width goes to the path and the preview', async () => {
    const file = await longPathCapture();
    cleanup = path.dirname(file);
    const s = (session = new TmuxSession());
    s.start(`node bin/frametap.js view '${file}'`, ROOT, { cols: 200, rows: 40 });
    const screen = await s.waitFor('connections 1');
    expect(screen).toContain(LONG_PATH);
    s.keys('m');
    const messages = await s.waitFor('[ #1 messages');
    expect(messages).toContain('a long preview that goes on '.repeat(2));
    s.keys('q');
    await s.waitFor('EXIT=0', 8000);
  }, 30_000);
});

describe('closing the terminal', () => {
  afterAll(() => killTmuxServer());

  itWith('tmux')('SIGHUP (tmux kill-session) stops the dashboard like SIGTERM: its spill file is removed', async () => {
    const temp = await fsp.mkdtemp(path.join(os.tmpdir(), 'frametap-hup-'));
    const spillDir = async (): Promise<string | undefined> => (await fsp.readdir(temp)).find((f) => f.startsWith('frametap-spill-'));
    const s = new TmuxSession();
    s.start(`TMPDIR='${temp}' node bin/frametap.js demo`, ROOT, { cols: 220, rows: 40 });
    try {
      await s.waitFor(/conns \d+ open/, 15_000);
      const dir = await spillDir();
      expect(dir).toBeDefined();
      expect(existsSync(path.join(temp, dir!, 'rows.spill'))).toBe(true);
      s.kill();
      // Polled, bounded: the process removes it while shutting down.
      const deadline = Date.now() + 10_000;
      while ((await spillDir()) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await spillDir()).toBeUndefined();
    } finally {
      s.kill();
      rmSync(temp, { recursive: true, force: true });
    }
  }, 30_000);
});
