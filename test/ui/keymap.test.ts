import { describe, expect, it } from 'vitest';
import { actionFor, helpLines, KEY_HINTS, keyLabel, KEYMAP } from '../../ui/keymap.js';

describe('keymap', () => {
  it('binds the keys issue 5 lists', () => {
    const expected: Record<string, string> = {
      up: 'up', k: 'up', down: 'down', j: 'down', pageup: 'page-up', pagedown: 'page-down', g: 'first', 'S-g': 'last',
      tab: 'next-pane', enter: 'detail', '/': 'search', f: 'filter', m: 'mode', x: 'payload-view', h: 'handshake',
      p: 'pause', '?': 'help', q: 'quit', 'C-c': 'quit',
    };
    for (const [key, action] of Object.entries(expected)) expect(actionFor('normal', key), key).toBe(action);
    expect(actionFor('filter', 'd')).toBe('filter-direction');
    expect(actionFor('normal', 'z')).toBeUndefined();
  });

  it('generates the help from the table, one line per binding', () => {
    const lines = helpLines('normal');
    expect(lines.length).toBe(KEYMAP.filter((b) => b.mode === 'normal').length);
    for (const b of KEYMAP.filter((k) => k.mode === 'normal')) expect(lines.some((l) => l.startsWith(keyLabel(b.keys)) && l.endsWith(b.help))).toBe(true);
    // Every key of the table is in the help, Home and End included.
    const help = lines.join('\n');
    for (const name of ['Home', 'End', 'PgUp', 'PgDn', 'Tab', 'Enter', 'Esc', 'Ctrl-C', 'G', 'N', 'F', '↑', '↓']) expect(help).toContain(name);
    expect(keyLabel(['g', 'home'])).toBe('g Home');
    expect(keyLabel(['S-g', 'G', 'end'])).toBe('G End');
  });

  it('binds no key twice in a mode', () => {
    const seen = new Set<string>();
    for (const b of KEYMAP) for (const k of b.keys) {
      expect(seen.has(`${b.mode}:${k}`), k).toBe(false);
      seen.add(`${b.mode}:${k}`);
    }
  });

  it('the status bar hints come from the table too', () => {
    expect(KEY_HINTS).toBe('? help  F follow  / search  f filter  m frames/msgs  x text/json/hex  h handshake  p freeze  q quit');
    for (const hint of KEY_HINTS.split('  ')) expect(actionFor('normal', hint.split(' ')[0]!), hint).toBeDefined();
  });
});
