/**
 * The dashboard as a person uses it: `frametap demo` and `frametap view` in a real terminal (tmux),
 * keys typed, the visible text read back.
 */
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { itWith } from '../helpers/system-deps.js';
import { killTmuxServer, TmuxSession } from './tmux.js';

const ROOT = path.resolve(__dirname, '../..');
const CAPTURE = 'fixtures/captures/view-chat.jsonl';
const HAR = 'fixtures/har/devtools-quotes.har';

describe('dashboard in a terminal', () => {
  let session: TmuxSession | null = null;
  afterEach(() => {
    session?.kill();
    session = null;
  });
  afterAll(() => killTmuxServer());

  const open = (command: string): TmuxSession => {
    session = new TmuxSession();
    session.start(command, ROOT);
    return session;
  };

  itWith('tmux')('demo: handshake headers, frames of every kind, close codes with names, q quits', async () => {
    const s = open('node bin/frametap.js demo');
    // The connections pane names the close codes as they happen.
    await s.waitFor((t) => t.includes('1006 Abnormal Closure') && t.includes('1002 Protocol Error') && t.includes('1001 Going Away') && /400[01] Private Use/.test(t), 15_000);

    // Tab twice focuses the connections; j moves down the list until the wanted connection is selected.
    s.keys('Tab');
    s.keys('Tab');
    await s.waitFor('[ connections');
    const select = async (pathPart: string): Promise<void> => {
      s.keys('g');
      await s.waitFor(/>#1 /);
      for (let i = 0; i < 12; i++) {
        const selected = s.screen().split('\n').find((l) => l.includes('>#'));
        if (selected?.includes(pathPart)) return;
        const before = selected ?? '';
        s.keys('j');
        await s.waitFor((t) => (t.split('\n').find((l) => l.includes('>#')) ?? '') !== before);
      }
      throw new Error(`no connection to ${pathPart} in the list:\n${s.screen()}`);
    };

    await select('/chat?user=user1&');
    await s.waitFor((t) => ['→ text', '← text', '← binary', '← ping', '→ pong'].every((k) => t.includes(k)), 10_000);

    s.keys('h');
    const hs = await s.waitFor('Sec-WebSocket-Accept: ok');
    expect(hs).toContain('Upgrade: websocket');
    expect(hs).toContain('HTTP/1.1 101 Switching Protocols');
    // The handshake's lines wrap, so its end is further down: focus the pane and go to its bottom.
    s.keys('Tab', 'Tab');
    await s.waitFor('[ handshake');
    s.keys('G');
    const end = await s.waitFor('extension: permessage-deflate');
    expect(end).toContain('subprotocol: chat.v1');
    s.keys('h');
    await s.waitFor((t) => !t.includes('Sec-WebSocket-Accept: ok'));
    s.keys('Tab');
    await s.waitFor('[ connections');

    // A fragmented message: a text frame and its continuations.
    await select('/echo?user=user3 ');
    await s.waitFor(/→ cont /);
    // A raw frame with RSV2 set from the demo upstream, then both sides closed with 1002.
    await select('/misbehave');
    const bad = await s.waitFor('VIOLATION rsv2-rsv3-set');
    expect(bad).toMatch(/← text\s+F\.2\.\./);
    expect(bad).toMatch(/close\s+F\.\.\.M\s+\d+ B\s+1002 Protocol Error/);

    s.keys('q');
    await s.waitFor('EXIT=0', 8000);
  }, 45_000);

  itWith('tmux')('view of a capture: ?, m, /, f, x and q do what the help says', async () => {
    const s = open(`node bin/frametap.js view ${CAPTURE}`);
    await s.waitFor('connections 2');
    s.keys('Tab');
    s.keys('Tab');
    await s.waitFor('[ connections');
    s.keys('g');
    await s.waitFor(/>#1 .*1000 Normal Closure/);
    expect(s.screen()).toMatch(/#2 .*1006 Abnormal Closure/);
    s.keys('Tab');
    await s.waitFor('[ #1 frames');

    s.keys('?');
    const help = await s.waitFor('search text payloads (regex)');
    expect(help).toContain('toggle frames / messages');
    expect(help).toContain('payload as text / JSON / hex');
    s.keys('?');
    await s.waitFor((t) => !t.includes('search text payloads (regex)'));

    // m: frames ↔ messages.
    expect(s.screen()).toContain('→ cont');
    s.keys('m');
    await s.waitFor('[ #1 messages');
    const messages = s.screen();
    expect(messages).toContain('part one, part two, part three');
    expect(messages).not.toContain('→ cont');

    // /: the next row whose text payload matches.
    s.keys('/');
    await s.waitFor('Enter search, Esc cancel');
    s.type('wel.ome');
    s.keys('Enter');
    const found = await s.waitFor('/wel.ome: row');
    expect(found).toMatch(/>\d\d:\d\d:\d\d\.\d{3} ← text .*"welcome"/);

    // x: text → JSON → hex for the selected row.
    s.keys('x');
    const json = await s.waitFor('detail (json');
    expect(json).toContain('"motd": "fixture capture for view"');
    s.keys('x');
    const hex = await s.waitFor('detail (hex');
    expect(hex).toMatch(/00000000 {2}7b 22 74 79 70 65 22 3a/);

    // f: the filter menu; d cycles the direction to the client's rows only.
    s.keys('f');
    await s.waitFor('filter: both directions');
    s.keys('d');
    await s.waitFor('filter: from client');
    s.keys('Escape');
    await s.waitFor((t) => !t.includes('close the filter menu'));
    const filtered = s.screen();
    expect(filtered).toContain('→ text');
    expect(filtered).not.toContain('← text');

    s.keys('q');
    await s.waitFor('EXIT=0', 8000);
  }, 45_000);

  itWith('tmux')('mouse: a click selects a connection and a row, the wheel scrolls', async () => {
    const s = open(`node bin/frametap.js view ${CAPTURE}`);
    await s.waitFor(/>#2 .*1006 Abnormal Closure/);
    // SGR mouse reports (xterm 1006 mode), 1-based: the list's first row is on screen line 3.
    s.type('\x1b[<0;10;3M\x1b[<0;10;3m');
    await s.waitFor(/>#1 .*1000 Normal Closure/);
    // The log's first row is on screen line 16 (its box starts at 30% of 48 lines).
    s.type('\x1b[<0;10;16M\x1b[<0;10;16m');
    await s.waitFor(/>\d\d:\d\d:\d\d\.015 → text/);
    s.type('\x1b[<65;10;20M');
    await s.waitFor(/>\d\d:\d\d:\d\d\.030 → pong/);
    s.type('\x1b[<64;10;20M');
    await s.waitFor(/>\d\d:\d\d:\d\d\.015 → text/);
    s.keys('q');
    await s.waitFor('EXIT=0', 8000);
  }, 30_000);

  itWith('tmux')('view of a HAR shows its messages and says it has no frames', async () => {
    const s = open(`node bin/frametap.js view ${HAR}`);
    const screen = await s.waitFor('{"subscribe":"FTAP"}');
    expect(screen).toContain('no frames in this capture');
    expect(screen).toContain('{"symbol":"FTAP","price":41.25}');
    expect(screen).toContain('de ad be ef');
    expect(screen).toMatch(/>#1 +recorded /);
    // p freezes the view (and says so); Enter opens the selected row's detail full width.
    s.keys('p');
    await s.waitFor('FROZEN');
    s.keys('p');
    await s.waitFor((t) => !t.includes('FROZEN'));
    s.keys('Enter');
    const detail = await s.waitFor('[ detail');
    expect(detail).toContain('message 4 → text from client');
    s.keys('C-c');
    await s.waitFor('EXIT=0', 8000);
  }, 30_000);
});
