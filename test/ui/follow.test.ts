/** Follow mode and the focused pane's keys (issue 11): the view never moves under a reader. */
import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/session/events.js';
import { logTitle } from '../../ui/panes/frame-log.js';
import { DashboardStore } from '../../ui/store.js';
import { DashboardView } from '../../ui/view.js';
import { exchange, handshake, open, T0 } from './events.js';

function feed(store: DashboardStore, events: readonly SessionEvent[]): void {
  for (const e of events) store.ingest(e);
}

const end = (conn: number): SessionEvent => ({
  type: 'end', conn, t: T0 + 9, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: 9, bytes: { client: 1, server: 1 }, frames: { client: 1, server: 1 },
});

function twoConnections(): { store: DashboardStore; view: DashboardView } {
  const store = new DashboardStore();
  const view = new DashboardView(store);
  view.logHeight = 5;
  feed(store, [open(1), handshake(1), ...exchange(1, 'client', 'a'), ...exchange(1, 'client', 'b'), ...exchange(1, 'client', 'c')]);
  view.settle();
  return { store, view };
}

describe('follow mode', () => {
  it('moving up in the log and opening a row stops following: the connection ending does not switch the view', () => {
    const { store, view } = twoConnections();
    expect(view.connection()!.id).toBe(1);
    expect(logTitle(view)).toContain(' follow');
    view.move(-1);
    view.settle();
    expect(logTitle(view)).toContain('paused (F follows)');
    // A newer connection with traffic, then the one being read ends.
    feed(store, [open(2), handshake(2), ...exchange(2, 'client', 'new')]);
    feed(store, [end(1)]);
    view.settle();
    expect(view.connection()!.id).toBe(1);
    expect(view.selected).toBe(1);
    // F follows again: the newest connection, its newest row.
    view.resumeFollow();
    view.settle();
    expect(view.connection()!.id).toBe(2);
    expect(logTitle(view)).toContain(' follow');
  });

  it('navigating in the detail pane stops following too', () => {
    const { store, view } = twoConnections();
    view.focus = 'detail';
    view.move(1);
    feed(store, [end(1), open(2), handshake(2), ...exchange(2, 'client', 'new')]);
    view.settle();
    expect(view.connection()!.id).toBe(1);
  });

  it('G and g in the detail (or handshake) pane scroll the detail, not the log', () => {
    const { view } = twoConnections();
    view.move(-2);
    view.settle();
    const selected = view.selected;
    view.focus = 'detail';
    view.end();
    expect(view.detailTop).toBeGreaterThan(1000);
    expect(view.follow).toBe(false);
    view.showHandshake = true;
    view.end();
    expect(view.detailTop).toBeGreaterThan(1000);
    view.home();
    expect(view.detailTop).toBe(0);
    view.settle();
    expect(view.selected).toBe(selected);
  });

  it('the help scrolls with the navigation keys', () => {
    const { view } = twoConnections();
    view.overlay = 'help';
    view.move(3);
    expect(view.helpTop).toBe(3);
    view.end();
    expect(view.helpTop).toBeGreaterThan(100);
    view.home();
    expect(view.helpTop).toBe(0);
    expect(view.connFollow).toBe(true);
  });
});
