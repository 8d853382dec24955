/**
 * Mouse reports as view commands: the wheel scrolls the pane under the pointer (and focuses it), a
 * click selects a connection or a log row, or focuses the detail pane. Pure over pane geometry.
 */
import type { DashboardView, Pane } from './view.js';

export interface PaneBox {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

export interface MouseReport {
  readonly x: number;
  readonly y: number;
  /** blessed's action names, `wheelup`/`wheeldown` included. */
  readonly action: string;
}

const WHEEL_LINES = 3;

/** Applies one mouse report to the view; false when it did nothing (no redraw needed). */
export function mouseCommand(view: DashboardView, report: MouseReport, panes: Readonly<Record<Pane, PaneBox>>): boolean {
  const inside = (b: PaneBox): boolean => report.x >= b.left && report.x < b.left + b.width && report.y >= b.top && report.y < b.top + b.height;
  const target: Pane | null = inside(panes.connections) ? 'connections' : inside(panes.log) ? 'log' : inside(panes.detail) ? 'detail' : null;
  if (target === null) return false;
  if (report.action === 'wheelup' || report.action === 'wheeldown') {
    view.focus = target;
    view.move(report.action === 'wheelup' ? -WHEEL_LINES : WHEEL_LINES);
    return true;
  }
  if (report.action !== 'mousedown') return false;
  // Inside the border; the connections pane's first line is its header.
  const row = report.y - panes[target].top - 1;
  if (target === 'connections') view.selectConnectionAt(row - 1);
  else if (target === 'log') view.selectRowAt(row);
  else view.focus = 'detail';
  return true;
}
