/**
 * A CONNECT tunnel after its `200` (cli.md forward mode): the client's first bytes decide what it
 * is. A TLS ClientHello is intercepted (a leaf for its server name, else the CONNECT host) and the
 * decrypted stream is served as HTTP; plain HTTP (Chromium's ws:// through a proxy) is served as
 * it is; anything else, silence past a short timeout (a server-speaks-first protocol) or an
 * `--ignore-hosts` match is relayed as raw bytes and recorded as a `tunnel` event. Every way a
 * client can stall or abort ends with its sockets closed and, for TLS, an `error` event.
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { LeafIssuer } from '../../ca/leaf-issuer.js';
import type { EventBus } from '../../session/event-bus.js';
import { preciseNow } from '../../session/session.js';
import { codedError } from '../upstream.js';
import { MAX_CLIENT_HELLO, sniff } from './client-hello.js';
import type { ConnectTarget } from './connect-target.js';
import type { Dialer } from './dialer.js';
import type { HostGlob } from './host-glob.js';
import type { Keylog } from './keylog.js';
import { relayRaw } from './raw-tunnel.js';
import type { TunnelContext } from './request-route.js';

export interface TunnelDeps {
  readonly bus: EventBus;
  readonly issuer: LeafIssuer;
  readonly ignoreHosts: readonly HostGlob[];
  readonly keylog: Keylog | null;
  readonly dialer: Dialer;
  /** Dialing a raw tunnel's upstream. */
  readonly timeoutMs: number;
  /** How long the client may stay silent before the tunnel is relayed raw. */
  readonly firstByteTimeoutMs: number;
  /** ClientHello, then the TLS handshake, each within this. */
  readonly handshakeTimeoutMs: number;
  /** Serve `socket` (decrypted or plain) as HTTP, its requests going where `context` says. */
  readonly serve: (socket: net.Socket, context: TunnelContext) => void;
  /** Closed on stop. */
  readonly track: (socket: net.Socket) => void;
  /** Sockets under a TLS wrap: closed through it, never destroyed underneath it. */
  readonly wrapped: WeakSet<net.Socket>;
}

/** Returns the handler for one answered CONNECT: `head` is what the client sent after its request. */
export function createTunnelHandler(deps: TunnelDeps): (socket: net.Socket, head: Buffer, conn: number, client: string, target: ConnectTarget) => void {
  const { bus, keylog, dialer, timeoutMs, firstByteTimeoutMs, handshakeTimeoutMs } = deps;

  /** Waits for the client's first bytes in a tunnel, then hands it to TLS, HTTP or a raw relay. */
  return function sniffTunnel(socket: net.Socket, head: Buffer, conn: number, client: string, target: ConnectTarget): void {
    let buffered = head;
    let timer = setTimeout(() => decide(null), firstByteTimeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      examine();
    };
    const onClose = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
    };
    // The server's sockets allow half-open connections: a client that ends before it was
    // understood is done.
    const onEnd = (): void => {
      socket.destroy();
    };
    const examine = (): void => {
      const verdict = sniff(buffered);
      if (verdict.kind !== 'need-more') return decide(verdict);
      if (buffered.length > MAX_CLIENT_HELLO) return decide({ kind: 'tls', sni: null });
      // The first bytes came: the rest of the ClientHello gets the handshake's time box.
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (socket.destroyed) return;
        reportClientTls(conn, target, target.host, codedError(`no complete ClientHello within ${handshakeTimeoutMs} ms`, 'ETIMEDOUT'));
        socket.destroy();
      }, handshakeTimeoutMs);
    };
    const decide = (verdict: ReturnType<typeof sniff> | null): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onEnd);
      if (socket.destroyed) return;
      socket.pause();
      const host = verdict?.kind === 'tls' && verdict.sni !== null ? verdict.sni.toLowerCase() : target.host;
      if (verdict === null) return rawTunnel(socket, buffered, conn, client, target, 'client-silent');
      if (deps.ignoreHosts.some((g) => g.matches(host, target.port))) return rawTunnel(socket, buffered, conn, client, target, 'ignore-hosts');
      if (verdict.kind === 'other') return rawTunnel(socket, buffered, conn, client, target, 'not-tls-or-http');
      if (buffered.length > 0) socket.unshift(buffered);
      if (verdict.kind === 'http') {
        deps.serve(socket, { target, tls: false, client });
        socket.resume();
        return;
      }
      intercept(socket, conn, client, target, host);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('end', onEnd);
    if (buffered.length > 0) examine();
  };

  function intercept(socket: net.Socket, conn: number, client: string, target: ConnectTarget, host: string): void {
    let context: tls.SecureContext;
    try {
      context = deps.issuer.leafFor(host).context;
    } catch {
      context = deps.issuer.leafFor(target.host).context;
    }
    // No SNICallback: the context for the ClientHello's name (else the CONNECT host) is chosen
    // before the handshake starts, so a ClientHello without SNI is served too.
    const tlsSocket = new tls.TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] });
    if (keylog) keylog.watch(tlsSocket);
    deps.wrapped.add(socket);
    deps.track(tlsSocket);
    let secure = false;
    let failed = false;
    /** Once per handshake: an error event, and the connection closed. */
    const fail = (error: Error): void => {
      if (secure || failed) return;
      failed = true;
      clearTimeout(timer);
      reportClientTls(conn, target, host, error);
      // Only the TLS socket: it closes the socket it wraps. Destroying that one underneath a live
      // TLS wrap frees the handle the wrap still uses (a segfault in Node 20).
      tlsSocket.destroy();
    };
    const timer = setTimeout(() => fail(codedError(`client did not finish the TLS handshake within ${handshakeTimeoutMs} ms`, 'ETIMEDOUT')), handshakeTimeoutMs);
    tlsSocket.on('error', (error: Error) => fail(error));
    // The client's FIN mid-handshake: a TLS socket that never finished its handshake does not
    // close by itself on it.
    tlsSocket.once('end', () => fail(codedError('the client closed the connection during the TLS handshake', 'ECONNRESET')));
    tlsSocket.once('close', () => clearTimeout(timer));
    tlsSocket.once('secure', () => {
      secure = true;
      clearTimeout(timer);
      deps.serve(tlsSocket, { target, tls: true, client });
    });
    // Not socket.resume(): the TLS layer now reads the socket's handle itself (and first drains
    // what was unshifted); a resumed outer stream would compete for the bytes.
  }

  function reportClientTls(conn: number, target: ConnectTarget, host: string, error: Error): void {
    if (!bus.wants('error')) return;
    const code = (error as { code?: unknown }).code;
    bus.publish({
      type: 'error',
      conn,
      t: preciseNow(),
      stage: 'handshake',
      ...(typeof code === 'string' ? { code } : {}),
      detail: `client TLS handshake for ${host} (CONNECT ${target.authority}) failed: ${error.message.split('\n')[0]!.trim()} (does the client trust frametap's CA? see 'frametap ca')`,
    });
  }

  function rawTunnel(socket: net.Socket, pending: Buffer, conn: number, client: string, target: ConnectTarget, why: string): void {
    const started = preciseNow();
    dialer.dial(target.host, target.port, timeoutMs, (error, upstream) => {
      if (error || !upstream) {
        if (bus.wants('error')) {
          const code = (error as { code?: unknown } | null)?.code;
          bus.publish({ type: 'error', conn, t: preciseNow(), stage: 'upstream-connect', ...(typeof code === 'string' ? { code } : {}), detail: `tunnel to ${target.authority}: ${error?.message ?? 'no socket'}` });
        }
        socket.destroy();
        return;
      }
      if (socket.destroyed) {
        upstream.destroy();
        return;
      }
      deps.track(upstream);
      socket.resume();
      relayRaw(socket, upstream, pending, ({ bytes }) => {
        if (!bus.wants('tunnel')) return;
        const t = preciseNow();
        bus.publish({ type: 'tunnel', conn, t, client, target: target.authority, why, bytes, durationMs: Math.round((t - started) * 1000) / 1000 });
      });
    });
  }

}
