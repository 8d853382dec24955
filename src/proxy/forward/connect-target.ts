/**
 * The target of a CONNECT request: RFC 9112 §3.2.3 authority-form, `host:port` (the port is
 * required), an IPv6 literal in brackets.
 */
import net from 'node:net';

export interface ConnectTarget {
  /** Host name (lower case) or IP literal without brackets. */
  readonly host: string;
  readonly port: number;
  /** `host:port` as a URL authority (IPv6 in brackets). */
  readonly authority: string;
}

/** RFC 3986 §3.2.2 reg-name, restricted to what DNS names use (with `_`, common in the wild). */
const REG_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*\.?$/;

export function parseConnectTarget(text: string): ConnectTarget | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]/@]+)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  if (m[1] !== undefined) {
    if (net.isIPv6(m[1]) === false) return null;
    const host = m[1].toLowerCase();
    return { host, port, authority: `[${host}]:${port}` };
  }
  const host = m[2]!.toLowerCase().replace(/\.$/, '');
  if (net.isIPv4(host) === false && !REG_NAME.test(host)) return null;
  return { host, port, authority: `${host}:${port}` };
}

export function formatAuthority(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
