/**
 * The one way frametap creates a file (captures, the dashboard's spill file, exports, and
 * any later key file): mode 0600, since they hold cookies and tokens, and never through a
 * link planted at the path, which would let another local user aim frametap's writes (and its
 * chmod) at a file of their choosing.
 *
 * Two shapes, both built on an exclusive create (O_CREAT|O_EXCL|O_NOFOLLOW: POSIX open(2) fails
 * with EEXIST when the path exists, a symbolic link included, so nothing is ever followed):
 * - `openPrivateFile`: a file written as it grows (a capture). An existing regular file or link at
 *   the path is unlinked first and the path created anew.
 * - `writePrivateFile`: a file written whole (an export). It is written under a fresh name in the
 *   same directory and renamed over the path, so a reader never sees half a file, and rename(2)
 *   replaces a link at the path instead of following it.
 * A FIFO or a device at the path (/dev/null, a named pipe a reader waits on) is opened as it is:
 * it cannot be replaced and holds nothing on disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export const PRIVATE_MODE = 0o600;

const CREATE_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** What is at `file` now, without following a link: null when nothing is. */
function existing(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function replaceable(st: fs.Stats | null): boolean {
  return st === null || st.isFile() || st.isSymbolicLink();
}

function isDirectoryError(): NodeJS.ErrnoException {
  return Object.assign(new Error('is a directory'), { code: 'EISDIR' });
}

/** An exclusive create with mode exactly 0600 (the umask can only clear bits; fchmod sets them all). */
function createNew(file: string): number {
  const fd = fs.openSync(file, CREATE_NEW, PRIVATE_MODE);
  try {
    fs.fchmodSync(fd, PRIVATE_MODE);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * Opens `file` for writing as a new private file (replacing a regular file or a link there), or a
 * FIFO / device as it is. Throws the system error (ENOENT, EACCES, EISDIR …) for the caller to word.
 */
export function openPrivateFile(file: string): number {
  const st = existing(file);
  if (st?.isDirectory()) throw isDirectoryError();
  if (!replaceable(st)) return fs.openSync(file, 'w');
  if (st !== null) fs.unlinkSync(file);
  return createNew(file);
}

/** Writes `chunks` as the whole content of `file`, created private and put in place by rename. */
export function writePrivateFile(file: string, chunks: readonly (Buffer | string)[]): void {
  const st = existing(file);
  if (st?.isDirectory()) throw isDirectoryError();
  if (!replaceable(st)) {
    const fd = fs.openSync(file, 'w');
    try {
      for (const c of chunks) writeAll(fd, c);
    } finally {
      fs.closeSync(fd);
    }
    return;
  }
  const fresh = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = createNew(fresh);
  try {
    try {
      for (const c of chunks) writeAll(fd, c);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(fresh, file);
  } catch (error) {
    fs.rmSync(fresh, { force: true });
    throw error;
  }
}

function writeAll(fd: number, chunk: Buffer | string): void {
  const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done);
}
