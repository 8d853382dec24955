/**
 * The capture file's writer, on a worker thread: the relay's thread packs each batch into one
 * transferred buffer (small events as finished lines, large payloads as bytes: batch-pack.ts); the
 * base64 of large payloads and the writes happen here
 * (issue: "serializing and writing a capture must not run per event on the relay's thread").
 * Messages in: `{ id, items, bytes }` batches, `{ close: true }`. Out: `{ id, sizes }` once a
 * batch is on disk (the byte length of each line, newline included), or `{ id, error }`.
 */
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { unpackBatch, type PackedBatch } from './batch-pack.js';
import { joinRawLine } from './line-encoder.js';

const port = parentPort!;
const fd = (workerData as { fd: number }).fd;

function writeAll(lines: readonly Buffer[]): void {
  let pending = lines.filter((l) => l.length > 0);
  while (pending.length > 0) {
    let written = fs.writevSync(fd, pending);
    const rest: Buffer[] = [];
    for (const line of pending) {
      if (written >= line.length) written -= line.length;
      else {
        rest.push(line.subarray(written));
        written = 0;
      }
    }
    pending = rest;
  }
}

// Loaded (with everything it imports): the owner may count this thread's descriptors from now.
port.postMessage({ ready: true });

port.on('message', (message: PackedBatch & { readonly id: number } | { readonly close: true }) => {
  if ('close' in message) {
    port.postMessage({ closed: true });
    return;
  }
  const sizes: number[] = [];
  try {
    const lines: Buffer[] = [];
    for (const line of unpackBatch(message, joinRawLine)) {
      sizes.push(line === null ? 0 : line.length);
      if (line !== null) lines.push(line);
    }
    writeAll(lines);
    port.postMessage({ id: message.id, sizes });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    port.postMessage({ id: message.id, error: { message: e.message, code: e.code } });
  }
});
