/**
 * Where and how the proxy dials the upstream: the target it is pinned to (a client can never pick
 * another host), the path it forwards, the headers it sends, and which stage a failure belongs to.
 */
import net from 'node:net';
import type { ErrorStage, RawHeaders } from '../session/events.js';

/** The upstream as http-proxy wants its `target`, plus what the session reports. */
export interface UpstreamTarget {
  /** http-proxy picks TLS from `protocol === 'https:'`, so ws:/wss: are mapped to http:/https:. */
  readonly protocol: 'http:' | 'https:';
  /** Host name without IPv6 brackets (what `net.connect` wants). */
  readonly hostname: string;
  /** Same as hostname: http-proxy copies `host` into the request options. */
  readonly host: string;
  readonly port: number;
}

export interface Upstream {
  readonly url: URL;
  readonly tls: boolean;
  readonly target: UpstreamTarget;
  /** `Host` header value for the upstream (`host[:port]`, default port left out). */
  readonly hostHeader: string;
  /** TLS SNI and certificate name; null for an IP address (RFC 6066 §3 forbids IP literals in SNI). */
  readonly servername: string | null;
  /** Path prefix of the upstream URL without a trailing slash ('' for none). */
  readonly prefix: string;
}

export function describeUpstream(url: URL): Upstream {
  const tls = url.protocol === 'wss:' || url.protocol === 'https:';
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  const prefix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return {
    url,
    tls,
    target: { protocol: tls ? 'https:' : 'http:', hostname, host: hostname, port },
    hostHeader: url.host,
    servername: net.isIP(hostname) === 0 ? hostname : null,
    prefix,
  };
}

/**
 * The request target is sent upstream byte for byte after the URL's path prefix (cli.md:
 * `-u ws://h/api` sends `/chat` to `/api/chat`). Only origin-form targets (RFC 9112 §3.2.1) are
 * accepted: an absolute-form or authority-form target could name another host. null: refuse it.
 */
export function upstreamPath(upstream: Upstream, requestTarget: string): string | null {
  if (!requestTarget.startsWith('/')) return null;
  return upstream.prefix + requestTarget;
}

/** The full upstream URL a request goes to, in WebSocket scheme (capture-format `open.target`). */
export function webSocketUrl(upstream: Upstream, path: string): string {
  return `${upstream.tls ? 'wss' : 'ws'}://${upstream.url.host}${path}`;
}

/** `rawHeaders` (`[name, value, name, value…]`) as a header list. */
export function pairHeaders(raw: readonly string[]): RawHeaders {
  const out: Array<readonly [string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/**
 * The header list as it goes upstream: the client's list in its order, case and duplicates
 * (issue 11: a relay must not regroup or re-case what it forwards), with two documented changes
 * recorded under `forwarded` in the capture:
 * - `Host` rewritten in place to the upstream's (unless --keep-host: a reverse proxy must,
 *   RFC 9110 §7.2, for virtual hosts and TLS SNI);
 * - `-H` headers replace same-named ones at the first one's place (later ones dropped), or are
 *   appended when the client sent none. An explicit `-H 'Host: …'` wins over the rewrite.
 */
export function forwardedHeaders(request: RawHeaders, options: { readonly hostHeader: string | null; readonly extra: RawHeaders }): RawHeaders {
  const extra = new Map<string, Array<readonly [string, string]>>();
  for (const [name, value] of options.extra) {
    const key = name.toLowerCase();
    const list = extra.get(key);
    if (list) list.push([name, value]);
    else extra.set(key, [[name, value]]);
  }
  const hostHeader = extra.has('host') ? null : options.hostHeader;
  const out: Array<readonly [string, string]> = [];
  const placed = new Set<string>();
  let hostSeen = false;
  for (const [name, value] of request) {
    const key = name.toLowerCase();
    const replacement = extra.get(key);
    if (replacement) {
      if (!placed.has(key)) out.push(...replacement);
      placed.add(key);
      continue;
    }
    if (key === 'host' && hostHeader !== null) {
      // RFC 9112 §3.2: exactly one Host (server.ts refuses a request with more).
      if (!hostSeen) out.push([name, hostHeader]);
      hostSeen = true;
      continue;
    }
    out.push([name, value]);
  }
  if (hostHeader !== null && !hostSeen) out.unshift(['Host', hostHeader]);
  for (const [key, list] of extra) if (!placed.has(key)) out.push(...list);
  return out;
}

/** A header list as `http.request({ headers })` takes it to write it in this order and case. */
export function flatHeaders(headers: RawHeaders): string[] {
  const out: string[] = [];
  for (const [name, value] of headers) out.push(name, value);
  return out;
}

export function sameHeaders(a: RawHeaders, b: RawHeaders): boolean {
  return a.length === b.length && a.every(([n, v], i) => n === b[i]![0] && v === b[i]![1]);
}

/** How far the dial got, to name the failing stage. */
export interface DialProgress {
  connected: boolean;
  secured: boolean;
}

/** capture-format `error.stage` for an upstream failure before the upgrade completed. */
export function failureStage(upstream: Upstream, progress: DialProgress): ErrorStage {
  if (!progress.connected) return 'upstream-connect';
  if (upstream.tls && !progress.secured) return 'upstream-tls';
  return 'handshake';
}

/** An error with a Node-style `code`, for failures frametap itself raises (timeouts). */
export function codedError(message: string, code: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}
