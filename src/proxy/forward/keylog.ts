/**
 * `--keylog FILE` (cli.md): the TLS secrets of both legs in NSS key log format, one line per
 * secret as Node's `keylog` event gives it, appended to FILE (mode 0600, never through a link).
 */
import fs from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { UsageError } from '../../errors.js';

export interface Keylog {
  /** Starts logging `socket`'s secrets (either side of a TLS connection). */
  watch(socket: TLSSocket): void;
  close(): void;
}

export function openKeylog(file: string): Keylog {
  let fd: number;
  try {
    const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = fs.constants;
    fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
    }
    // It holds session secrets: tighten a file that existed with looser bits.
    fs.fchmodSync(fd, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot write --keylog file '${file}': ${code === 'ELOOP' ? 'it is a symbolic link' : (code ?? String(error))}`);
  }
  let open = true;
  const onLine = (line: Buffer): void => {
    if (!open) return;
    try {
      fs.writeSync(fd, line);
    } catch {
      /* a full disk loses key lines, never the connection */
    }
  };
  return {
    watch(socket) {
      socket.on('keylog', onLine);
    },
    close() {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}
