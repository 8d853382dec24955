/**
 * `--ignore-hosts` and `-H` scopes (cli.md): a host glob, matched case-insensitively against a host
 * name without the port. `*` matches within one label, `**.` any number of leading labels (one or
 * more), and a `host:port` glob matches that port only.
 */
import { UsageError } from '../../errors.js';

export interface HostGlob {
  readonly text: string;
  matches(host: string, port: number): boolean;
}

export function parseHostGlob(text: string, flag: string): HostGlob {
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  const port = m?.[2] === undefined ? null : Number(m[2]);
  if (!m || (port !== null && (port < 1 || port > 65535)) || !/^[A-Za-z0-9.*_\-[\]:]+$/.test(m[1]!)) {
    throw new UsageError(`bad ${flag} '${text}': expected a host glob such as *.example.test, **.example.test or host:443`);
  }
  const host = m[1]!.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  let source = '';
  for (let i = 0; i < host.length; i++) {
    if (host.startsWith('**.', i)) {
      source += '(?:[^.]+\\.)+';
      i += 2;
    } else if (host.startsWith('**', i)) {
      source += '.*';
      i += 1;
    } else if (host[i] === '*') {
      source += '[^.]*';
    } else {
      source += host[i]!.replace(/[.\\[\]]/g, '\\$&');
    }
  }
  const re = new RegExp(`^${source}$`);
  return {
    text,
    matches(name: string, p: number): boolean {
      if (port !== null && p !== port) return false;
      return re.test(name.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, ''));
    },
  };
}
