/**
 * `--redact NAME`: a header name or a query parameter whose value is written as `<redacted>` in
 * what frametap publishes (capture, exports, screen). The traffic itself is never touched: these
 * functions only build the published copies.
 */
import type { RawHeaders } from './events.js';

export const REDACTED = '<redacted>';

export class Redactor {
  readonly #headerNames: ReadonlySet<string>;
  readonly #queryNames: ReadonlySet<string>;

  constructor(names: readonly string[]) {
    // Header names are case-insensitive (RFC 9110 §5.1); query parameter names are not.
    this.#headerNames = new Set(names.map((n) => n.toLowerCase()));
    this.#queryNames = new Set(names);
  }

  get active(): boolean {
    return this.#queryNames.size > 0;
  }

  headers(headers: RawHeaders): RawHeaders {
    if (!this.active || !headers.some(([name]) => this.#headerNames.has(name.toLowerCase()))) return headers;
    return headers.map(([name, value]) => (this.#headerNames.has(name.toLowerCase()) ? [name, REDACTED] as const : [name, value] as const));
  }

  /**
   * A request target or URL with the values of redacted query parameters replaced; every other
   * byte (order, encoding, `+`, empty parameters, the fragment) is kept as it was. Parameters are
   * split at `&` and at `;` (HTML 4.01 §B.2.2 asks servers to accept `;`, and many do), and a
   * name with a bracket suffix (`token[]`, `token[0]`, `token[a]`: the array and map syntax of
   * PHP, Rails and qs) is the parameter its base names, since servers read it as that one.
   */
  target(target: string): string {
    if (!this.active) return target;
    const q = target.indexOf('?');
    if (q < 0) return target;
    const hash = target.indexOf('#', q);
    const end = hash < 0 ? target.length : hash;
    // Parameters at even indexes, the separators that followed them at odd ones.
    const pieces = target.slice(q + 1, end).split(/([&;])/);
    let changed = false;
    for (let i = 0; i < pieces.length; i += 2) {
      const part = pieces[i]!;
      const eq = part.indexOf('=');
      const rawName = eq < 0 ? part : part.slice(0, eq);
      if (rawName === '' || !this.#isRedactedQueryName(rawName)) continue;
      changed = true;
      pieces[i] = `${rawName}=${REDACTED}`;
    }
    return changed ? `${target.slice(0, q + 1)}${pieces.join('')}${target.slice(end)}` : target;
  }

  #isRedactedQueryName(rawName: string): boolean {
    for (const name of [rawName, decodeName(rawName)]) {
      if (this.#queryNames.has(name)) return true;
      const bracket = /^([^[\]]+)\[[^\]]*\](?:\[[^\]]*\])*$/.exec(name);
      if (bracket && this.#queryNames.has(bracket[1]!)) return true;
    }
    return false;
  }
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}
