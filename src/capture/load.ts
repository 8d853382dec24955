/**
 * Load a recorded session for `view`, `replay`, `serve` and `export`: a JSONL capture or a HAR with
 * WebSocket entries, told apart by content (a HAR is one JSON object with `log.entries`).
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { CaptureHeader, SessionEvent } from '../session/events.js';
import { harToEvents, isHar } from './har-reader.js';
import { readCapture } from './jsonl-reader.js';

export interface LoadedCapture {
  readonly header: CaptureHeader | null;
  readonly events: SessionEvent[];
  readonly source: 'jsonl' | 'har';
}

export async function loadCapture(
  path: string,
  options: { readonly onWarning?: (message: string) => void } = {},
): Promise<LoadedCapture> {
  if ((await captureFormat(path)) === 'har') return loadHar(path, options.onWarning);
  const { header, events } = await readCapture(path, options);
  return { header, events, source: 'jsonl' };
}

/** Whether FILE is a JSONL capture or a HAR (by content); a missing or unreadable file is a UsageError. */
export async function captureFormat(path: string): Promise<'jsonl' | 'har'> {
  let head: string;
  try {
    const handle = await fs.promises.open(path, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      head = buf.toString('utf8', 0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new UsageError(`cannot read '${path}': ${why}; expected a frametap capture (.jsonl) or a HAR`);
  }
  return looksLikeHar(head) ? 'har' : 'jsonl';
}

/** A capture's first line is a complete JSON object with a `type`; a HAR starts `{` + `"log"`. */
function looksLikeHar(head: string): boolean {
  const firstLine = head.split('\n', 1)[0]!.trim();
  try {
    const first = JSON.parse(firstLine) as unknown;
    if (typeof first === 'object' && first !== null && typeof (first as { type?: unknown }).type === 'string') return false;
    return isHar(first);
  } catch {
    return /^\s*\{\s*"log"\s*:/.test(head) || firstLine === '{';
  }
}

async function loadHar(path: string, onWarning?: (message: string) => void): Promise<LoadedCapture> {
  let har: unknown;
  try {
    har = JSON.parse(await fs.promises.readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read HAR '${path}': ${(error as Error).message}`);
  }
  if (!isHar(har)) throw new UsageError(`'${path}' is neither a frametap capture nor a HAR (no log.entries)`);
  const events = harToEvents(har, onWarning);
  if (events.length === 0) {
    throw new UsageError(`HAR '${path}' has no WebSocket entries (record it with the page's WebSockets open)`);
  }
  return { header: null, events, source: 'har' };
}
