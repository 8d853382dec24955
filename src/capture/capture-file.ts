/**
 * Opening a capture file for writing, for every capture format: a new capture replaces an old one
 * (as `tcpdump -w` does). A regular file is unlinked and re-created exclusively, so the new file
 * gets mode 0600 even when the old one was world-readable (a capture holds cookies and tokens),
 * and a symlink planted at the path is replaced, not followed. Anything else (a FIFO, /dev/null)
 * is opened as is (safe-file.ts). JSON Lines and pcapng captures both open theirs here.
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import { openPrivateFile } from './safe-file.js';

export function openCaptureFile(path: string): number {
  try {
    return openPrivateFile(path);
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
