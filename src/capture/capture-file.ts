/**
 * Opening a capture file for writing, for every capture format: a new capture replaces an old one
 * (as `tcpdump -w` does). A regular file is unlinked and re-created exclusively, so the new file
 * gets mode 0600 even when the old one was world-readable (a capture holds cookies and tokens),
 * and a symlink planted at the path is replaced, not followed. Anything else (a FIFO, /dev/null)
 * is opened as is. Same rules as JsonlWriter.prepare (src/capture/jsonl-writer.ts).
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';

export function openCaptureFile(path: string): number {
  try {
    let existing: fs.Stats | null = null;
    try {
      existing = fs.lstatSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (existing?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (existing === null || existing.isFile() || existing.isSymbolicLink()) {
      if (existing) fs.unlinkSync(path);
      const fd = fs.openSync(path, 'wx', 0o600);
      fs.fchmodSync(fd, 0o600);
      return fd;
    }
    return fs.openSync(path, 'w');
  } catch (error) {
    throw new UsageError(`cannot write capture file '${path}': ${fileErrorReason(error)}`);
  }
}

/** A file error as the few words a user needs. */
export function fileErrorReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'its directory does not exist';
    case 'EISDIR':
      return 'it is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'read-only file system';
    case 'EPIPE':
      return 'the reader went away (broken pipe)';
    default:
      return e.code ? `${e.code}: ${e.message}` : String(e.message ?? error);
  }
}

export function writeAllSync(fd: number, chunk: Buffer): void {
  let done = 0;
  while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done);
}

/** Removes a capture file that will not be written after all (a device is not ours to remove). */
export function removeUnstartedCapture(path: string): void {
  try {
    if (fs.statSync(path).isFile()) fs.unlinkSync(path);
  } catch {
    // already gone
  }
}
