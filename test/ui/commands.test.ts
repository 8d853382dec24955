/** The command table and the key contexts: every action has a command, every context its keys. */
import { describe, expect, it } from 'vitest';
import { COMMANDS, keyContext, runCommand, type CommandHost } from '../../ui/commands.js';
import { actionFor, helpLines, INTERCEPT_ACTIONS, KEYMAP } from '../../ui/keymap.js';
import { mouseCommand } from '../../ui/mouse.js';
import { DashboardStore } from '../../ui/store.js';
import { DashboardView } from '../../ui/view.js';
import { exchange, handshake, open } from './events.js';

function host(): CommandHost & { searches: number[]; quits: number } {
  const store = new DashboardStore();
  for (const e of [open(1), handshake(1), ...exchange(1, 'client', 'a'), ...exchange(1, 'server', 'b')]) store.ingest(e);
  const view = new DashboardView(store);
  view.logHeight = 5;
  view.settle();
  const h = {
    view,
    zoom: false,
    searches: [] as number[],
    quits: 0,
    startSearch: () => {},
    startFieldFilter: () => {},
    searchAgain: (d: 1 | -1) => void h.searches.push(d),
    quit: () => void h.quits++,
    wake: () => {},
  };
  return h;
}

describe('commands', () => {
  it('every action bound in the keymap has a command', () => {
    // The keys that act on live traffic are the dashboard's own (ui/intercept-keys.ts).
    for (const b of KEYMAP) if (!INTERCEPT_ACTIONS.has(b.action)) expect(COMMANDS[b.action as keyof typeof COMMANDS], b.action).toBeTypeOf('function');
  });

  it('the overlay decides the key context; in the help the navigation keys scroll it and q still quits', () => {
    const h = host();
    expect(keyContext(h.view)).toBe('normal');
    runCommand(actionFor('normal', '?')!, h);
    expect(keyContext(h.view)).toBe('help');
    runCommand(actionFor('help', 'j')!, h);
    expect(h.view.helpTop).toBe(1);
    // m is not a help key: nothing happens to the log mode while the help is open.
    expect(actionFor('help', 'm')).toBeUndefined();
    runCommand(actionFor('help', 'q')!, h);
    expect(h.quits).toBe(1);
    runCommand(actionFor('help', 'escape')!, h);
    expect(keyContext(h.view)).toBe('normal');
    runCommand(actionFor('normal', 'f')!, h);
    expect(keyContext(h.view)).toBe('filter');
    runCommand(actionFor('filter', 'd')!, h);
    expect(h.view.filter.direction).toBe('client');
    expect(helpLines('help').join('\n')).toContain('PgDn');
  });

  it('Enter widens the detail and stops following; Esc narrows it again', () => {
    const h = host();
    runCommand('detail', h);
    expect([h.zoom, h.view.focus, h.view.connFollow]).toEqual([true, 'detail', false]);
    runCommand('close-overlay', h);
    expect([h.zoom, h.view.focus]).toEqual([false, 'log']);
    runCommand('search-prev', h);
    expect(h.searches).toEqual([-1]);
  });

  it('mouse: the wheel scrolls the pane under the pointer, a click selects a row', () => {
    const h = host();
    const panes = {
      connections: { left: 0, top: 0, width: 100, height: 10 },
      log: { left: 0, top: 10, width: 60, height: 10 },
      detail: { left: 60, top: 10, width: 40, height: 10 },
    };
    expect(mouseCommand(h.view, { x: 5, y: 11, action: 'mousedown' }, panes)).toBe(true);
    expect([h.view.focus, h.view.selected, h.view.follow]).toEqual(['log', 0, false]);
    expect(mouseCommand(h.view, { x: 70, y: 12, action: 'wheeldown' }, panes)).toBe(true);
    expect([h.view.focus, h.view.detailTop]).toEqual(['detail', 3]);
    expect(mouseCommand(h.view, { x: 200, y: 200, action: 'mousedown' }, panes)).toBe(false);
  });
});
