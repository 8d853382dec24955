/** Listening for the proxy, the forward proxy and the mock server, with the errors a user can act on. */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FrametapError, UsageError } from '../errors.js';

/** Why a listen fails that the user chose: a usage error that says what to do (cli.md exit 2). */
const USER_LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is in use (pick another, or port 0 for any free one)',
  EACCES: 'permission denied (ports below 1024 need privileges; pick a higher one)',
  EADDRNOTAVAIL: 'no such address on this machine',
};

/**
 * Listens and returns the address bound. A busy, privileged or foreign address is the user's
 * choice to fix (UsageError, exit 2); anything else is a `listen`-stage FrametapError.
 */
export async function listenOn(server: http.Server, listen: { readonly host: string; readonly port: number }): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: Error & { code?: string }) => {
      const hint = error.code !== undefined ? USER_LISTEN_ERRORS[error.code] : undefined;
      const where = listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
      if (hint !== undefined) reject(new UsageError(`cannot listen on ${where}: ${hint}`));
      else reject(new FrametapError(`cannot listen on ${where}: ${error.code ?? error.message}`, { stage: 'listen', cause: error }));
    });
    server.listen(listen.port, listen.host, () => resolve());
  });
  server.on('error', () => {});
  return server.address() as AddressInfo;
}
