/**
 * The app-protocol part of `--ui log`: for each message line, the decoded summary (and on a
 * reply's line its latency); lines of their own for requests left unanswered and for each
 * connection's pairing figures at its end. Runs in the line log's sink, never on the relay path.
 */
import { AppViews, type AppNote, type AppViewOptions } from '../appproto/connection-app.js';
import { formatPairStats } from '../appproto/pairing.js';
import type { SessionEvent } from '../session/events.js';
import { clock } from './line-log.js';
import { safeLine } from '../appproto/safe-text.js';

export interface LineAnnotation {
  /** Appended to the event's own line. */
  readonly suffix: string | null;
  /** Whole lines (without time and connection) written after it. */
  readonly extra: readonly string[];
}

/** How often (in event time) open requests of every connection are checked against the timeout. */
const TICK_MS = 1000;

export interface AppLog {
  /** For the line log's `annotate`: this event's suffix and the lines after it. */
  readonly annotate: (event: SessionEvent) => LineAnnotation;
  /** Live traffic only (times are wall-clock): lines for requests past the timeout at `now`. */
  readonly tick: (now: number) => string[];
}

/** The app-protocol annotations of the line log; holds one AppViews for the bus. */
export function appLog(options: AppViewOptions = {}, utc = false): AppLog {
  const views = new AppViews(options);
  let lastTick = -Infinity;
  const timeout = views.options.pair?.timeoutMs ?? 30_000;
  const lines = (notes: readonly AppNote[], t: number): { suffix: string | null; extra: string[] } => {
    let suffix: string | null = null;
    const extra: string[] = [];
    for (const note of notes) {
      const head = `${clock(t, utc)} #${note.conn} `;
      if (note.kind === 'message') {
        if (note.view.summary !== null) suffix = `· ${safeLine(note.view.summary)}`;
      } else if (note.kind === 'unanswered') {
        for (const u of note.items) extra.push(`${head}unanswered: ${safeLine(u.request)} (no reply in ${timeout / 1000} s)`);
      } else {
        for (const u of note.unanswered) extra.push(`${head}unanswered: ${safeLine(u.request)} (no reply before the end)`);
        if (note.stats.requests > 0 || note.stats.unmatched > 0) extra.push(`${head}pairs: ${formatPairStats(note.stats)}`);
      }
    }
    return { suffix, extra };
  };
  return {
    annotate: (event) => {
      const notes: AppNote[] = views.observe(event);
      if (event.t - lastTick >= TICK_MS) {
        lastTick = event.t;
        notes.push(...views.tick(event.t));
      }
      return lines(notes, event.t);
    },
    tick: (now) => lines(views.tick(now), now).extra,
  };
}

/** An annotator for the line log (see appLog). */
export function appLogAnnotator(options: AppViewOptions = {}, utc = false): (event: SessionEvent) => LineAnnotation {
  return appLog(options, utc).annotate;
}
