/**
 * Where a request to the forward proxy goes (pure): inside a CONNECT tunnel, to the tunnel's host
 * and port (TLS when the tunnel was intercepted); outside, to the host an absolute-form target
 * names (RFC 9112 §3.2.2). The path is kept byte for byte.
 */
import { describeUpstream, type Upstream } from '../upstream.js';
import type { ConnectTarget } from './connect-target.js';

/** What a socket fed back into the proxy's server came through. */
export interface TunnelContext {
  readonly target: ConnectTarget;
  /** The tunnel's TLS was intercepted (requests go to https:// / wss://). */
  readonly tls: boolean;
  /** The client's address on the outer TCP connection. */
  readonly client: string;
}

/** Where one request goes. */
export interface Route {
  readonly upstream: Upstream;
  /** Path and query as sent upstream, byte for byte. */
  readonly path: string;
  /** The request named its host itself (absolute-form): Host is set from it (RFC 9112 §3.2.2). */
  readonly absolute: boolean;
}

/** The route, or why the request cannot be routed (for a 400). */
export function routeRequest(target: string, tunnel: TunnelContext | undefined): Route | string {
  if (tunnel) {
    if (!target.startsWith('/')) return 'a request inside a CONNECT tunnel must have an origin-form target (/path)';
    return { upstream: describeUpstream(new URL(`${tunnel.tls ? 'wss' : 'ws'}://${tunnel.target.authority}`)), path: target, absolute: false };
  }
  // absolute-form = scheme "://" authority path-abempty [ "?" query ] (RFC 9112 §3.2.2, RFC 3986 §3).
  const m = /^(https?|wss?):\/\/([^/?#]+)([^#]*)/i.exec(target);
  if (!m) return 'this is a forward proxy: send absolute-form requests (http://host/path) or CONNECT host:port';
  let origin: URL;
  try {
    const scheme = m[1]!.toLowerCase();
    origin = new URL(`${scheme === 'https' || scheme === 'wss' ? 'wss' : 'ws'}://${m[2]}`);
  } catch {
    return `bad request target ${JSON.stringify(target.slice(0, 200))}`;
  }
  if (origin.username || origin.password || !origin.hostname) return 'the request target must name a host without user info';
  const rest = m[3]!;
  return { upstream: describeUpstream(origin), path: rest.startsWith('/') ? rest : `/${rest}`, absolute: true };
}

/** The absolute http(s) URL of a routed request (capture-format: forward mode `http.target`). */
export function httpUrl(route: Route): string {
  return `${route.upstream.tls ? 'https' : 'http'}://${route.upstream.url.host}${route.path}`;
}
