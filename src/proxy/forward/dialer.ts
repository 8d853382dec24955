/**
 * How forward mode reaches an upstream's TCP port: directly, or with `--upstream-proxy URL`
 * through another HTTP proxy's CONNECT (RFC 9110 §9.3.6), for raw tunnels and for the agents
 * http-proxy dials with.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { formatAuthority } from './connect-target.js';
import type { Keylog } from './keylog.js';

export type DialCallback = (error: Error | null, socket: net.Socket | null) => void;

export interface Dialer {
  /** A connected TCP stream to host:port (errors before the callback carry a Node `code`). */
  dial(host: string, port: number, timeoutMs: number, callback: DialCallback): void;
  /** Upstream requests must be dialed through `dial` first (see `preconnectedAgent`). */
  readonly viaProxy: boolean;
}

/**
 * An agent that hands http-proxy a socket dialed beforehand (through the upstream proxy), TLS on
 * top when `tls`. It must be synchronous: http-proxy edits the request (path, headers) when its
 * socket is assigned, and with an asynchronous agent a bodiless request has sent its head by then.
 */
export function preconnectedAgent(socket: net.Socket, useTls: boolean, keylog: Keylog | null = null): http.Agent {
  let used = false;
  const take = (): net.Socket => {
    if (used) throw new Error('frametap internal error: a preconnected socket was asked for twice');
    used = true;
    return socket;
  };
  if (useTls) {
    const agent = new https.Agent({ keepAlive: false });
    agent.createConnection = ((options: tls.ConnectionOptions) => {
      const secure = tls.connect({ ...options, socket: take() });
      keylog?.watch(secure);
      return secure;
    }) as never;
    return agent;
  }
  const agent = new http.Agent({ keepAlive: false });
  agent.createConnection = (() => take()) as never;
  return agent;
}

/** An agent whose one connection fails with `error` (a dial through --upstream-proxy that failed). */
export function failingAgent(error: Error, useTls: boolean): http.Agent {
  const agent = useTls ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  agent.createConnection = ((_options: unknown, callback: (error: Error | null) => void) => {
    callback(error);
    return undefined;
  }) as never;
  return agent;
}

/** Direct TLS dials whose secrets go to the key log (`--keylog`). */
export function keylogAgent(keylog: Keylog): https.Agent {
  const agent = new https.Agent({ keepAlive: false });
  const create = agent.createConnection.bind(agent) as (options: tls.ConnectionOptions, callback?: unknown) => tls.TLSSocket;
  agent.createConnection = ((options: tls.ConnectionOptions, callback?: unknown) => {
    const secure = create(options, callback);
    if (secure) keylog.watch(secure);
    return secure;
  }) as never;
  return agent;
}

export function directDialer(): Dialer {
  return {
    dial(host, port, timeoutMs, callback) {
      const socket = net.connect({ host, port });
      let settled = false;
      const settle = (error: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeListener('error', settle);
        if (error) {
          socket.destroy();
          callback(error, null);
        } else {
          callback(null, socket);
        }
      };
      const timer = setTimeout(() => settle(Object.assign(new Error(`connect to ${formatAuthority(host, port)} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
      socket.once('error', settle);
      socket.once('connect', () => settle(null));
    },
    viaProxy: false,
  };
}

/** Every upstream through `proxy` (an http:// URL): CONNECT, then TLS over the tunnel when asked. */
export function upstreamProxyDialer(proxy: URL): Dialer {
  const proxyHost = proxy.hostname.replace(/^\[(.*)\]$/, '$1');
  const proxyPort = proxy.port ? Number(proxy.port) : 80;
  const authorization = proxy.username
    ? `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`
    : null;
  const direct = directDialer();
  const dial: Dialer['dial'] = (host, port, timeoutMs, callback) => {
    direct.dial(proxyHost, proxyPort, timeoutMs, (error, socket) => {
      if (error || !socket) return callback(error, null);
      const authority = formatAuthority(host, port);
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${authorization ? `Proxy-Authorization: ${authorization}\r\n` : ''}\r\n`);
      let head = Buffer.alloc(0);
      const fail = (e: Error): void => {
        cleanup();
        socket.destroy();
        callback(e, null);
      };
      const timer = setTimeout(() => fail(Object.assign(new Error(`upstream proxy did not answer CONNECT ${authority} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16 * 1024) fail(Object.assign(new Error('upstream proxy sent an oversized answer to CONNECT'), { code: 'EPROTO' }));
          return;
        }
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1];
        if (status === undefined || !status.startsWith('2')) {
          const e = Object.assign(new Error(`upstream proxy refused CONNECT ${authority}: ${head.subarray(0, head.indexOf('\r\n')).toString('latin1')}`), { code: 'ECONNREFUSED' });
          return fail(e);
        }
        cleanup();
        const rest = head.subarray(end + 4);
        if (rest.length > 0) socket.unshift(rest);
        callback(null, socket);
      };
      const onError = (e: Error): void => fail(e);
      const onClose = (): void => fail(Object.assign(new Error(`upstream proxy closed during CONNECT ${authority}`), { code: 'ECONNRESET' }));
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.removeListener('data', onData);
        socket.removeListener('error', onError);
        socket.removeListener('close', onClose);
      };
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
    });
  };

  return { dial, viaProxy: true };
}
