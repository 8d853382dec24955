/**
 * `view FILE --ui log|jsonl|none` of a JSON Lines capture: the events are streamed from the file to
 * the sinks line by line, never loaded whole, so memory stays flat in the file's size (a capture
 * of 747 MB took 2.7 GB when loaded, issue 11). Reading waits while the output cannot keep up: a
 * sink's queue over its high-water mark, or stdout asking for a drain (a slow pipe).
 */
import { readCaptureLines } from '../capture/jsonl-reader.js';
import { captureHeader } from '../capture/header.js';
import { EventBus } from '../session/event-bus.js';
import type { CaptureHeader, SessionEvent } from '../session/events.js';
import type { UiMode } from './args.js';
import { openOutputs } from './outputs.js';
import type { AppViewOptions } from '../appproto/connection-app.js';

export interface PrintOptions {
  readonly ui: Exclude<UiMode, 'tui'>;
  readonly onWarning: (message: string) => void;
  /** `--frames`: the line log shows every frame, not one line per message. */
  readonly frames?: boolean;
  /** App-protocol decoding for the log (`--view`, `--pair`, …); null turns it off. */
  readonly app?: AppViewOptions | null;
  /** Where the lines go (default stdout). */
  readonly stdout?: NodeJS.WritableStream & { readonly writableNeedDrain?: boolean };
}

/** Lines published between two turns of the event loop, so sinks flush as the file is read. */
const BATCH = 2000;

export async function printCapture(file: string, options: PrintOptions): Promise<void> {
  const stdout = options.stdout ?? process.stdout;
  const lines = readCaptureLines(file, { onWarning: options.onWarning })[Symbol.asyncIterator]();
  // The header is the first line; a capture without one gets a header dated by its first event.
  let first = await lines.next();
  let header: CaptureHeader;
  if (!first.done && first.value.value.type === 'capture') {
    header = first.value.value;
    first = await lines.next();
  } else {
    const t = first.done ? Date.now() : (first.value.value as SessionEvent).t;
    header = captureHeader('view', null, null, new Date(t));
  }

  const bus = new EventBus();
  const outputs = await openOutputs({ bus, ui: options.ui, write: null, header, stdout, frames: options.frames ?? false, reading: true, ...(options.app !== undefined ? { app: options.app } : {}) });
  let high = false;
  let resume: (() => void) | null = null;
  const offPressure = outputs.onPressure((on) => {
    high = on;
    if (!on) {
      const r = resume;
      resume = null;
      r?.();
    }
  });
  const waitForOutput = async (): Promise<void> => {
    if (high) await new Promise<void>((resolve) => (resume = resolve));
    if (stdout.writableNeedDrain) await new Promise<void>((resolve) => stdout.once('drain', () => resolve()));
  };
  try {
    let n = 0;
    for (let next = first; !next.done; next = await lines.next()) {
      const value = next.value.value;
      // A later `capture` line (concatenated captures) is not an event.
      if (value.type === 'capture') continue;
      bus.publish(value);
      if (++n % BATCH === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        await waitForOutput();
      }
    }
  } finally {
    offPressure();
    await lines.return?.(undefined);
    await outputs.close();
  }
}
