import type { CaptureHeader } from '../session/events.js';
import { toolVersion } from '../version.js';

/** The `capture` line that starts every capture frametap writes (capture-format.md). */
export function captureHeader(mode: string, listen: string | null, upstream: string | null, started: Date = new Date()): CaptureHeader {
  return {
    type: 'capture',
    format: 'frametap-capture',
    version: 1,
    started: started.toISOString(),
    tool: { name: 'frametap', version: toolVersion() },
    mode,
    listen,
    upstream,
  };
}
