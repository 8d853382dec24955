/**
 * The dashboard's breakpoints (`b`): filters whose matching messages are held until a person
 * forwards, edits or drops them. A filter is a few space-separated terms, all of which must hold:
 *
 *   client | server          who sent it
 *   text | binary            the opcode
 *   /REGEX/                  a text message's text matches
 *   $.path  $.path=VALUE     a JSON message has the field (equal to VALUE: JSON, or a bare string)
 *   path:REGEX               the connection's request target matches
 *   handshake                hold the upgrade request itself (with path:REGEX only)
 *   101                      hold the upstream's 101 response before the client gets it (path:REGEX only)
 *
 * e.g. `client /"type":"order"/ path:^/trade`, `server $.status=error`. An empty filter holds
 * every message.
 */
import { UsageError } from '../errors.js';
import { parseJsonPathFor, type JsonValue } from '../replay/json-path.js';
import type { Side } from '../session/events.js';
import type { MessageView, Verdict } from './actions.js';
import type { ConnectionContext, GateSource } from './policy.js';
import { matchMessage, type RuleMatch } from './rules.js';

export interface Breakpoint {
  readonly id: number;
  /** The filter as typed. */
  readonly source: string;
  readonly match: RuleMatch;
  /** Holds the upgrade request (the `handshake` term) or the upstream's 101 (the `101` term), not messages. */
  readonly handshake: HandshakeStage | null;
}

/** Which half of the upgrade a handshake breakpoint holds. */
export type HandshakeStage = 'request' | 'response';

/** Parses a breakpoint filter; a mistake is a UsageError whose message the dashboard shows. */
export function parseBreakpoint(source: string): RuleMatch {
  return parseFilter(source).match;
}

function parseFilter(source: string): { match: RuleMatch; handshake: HandshakeStage | null } {
  let handshake: HandshakeStage | null = null;
  let from: Side | null = null;
  let opcode: 1 | 2 | null = null;
  let text: RegExp | null = null;
  let json: RuleMatch['json'] = null;
  let path: RegExp | null = null;
  const fail = (why: string): never => {
    throw new UsageError(`bad breakpoint '${source}': ${why}`);
  };
  const re = (s: string): RegExp => {
    try {
      return new RegExp(s);
    } catch (error) {
      return fail(`bad regex '${s}': ${(error as Error).message}`);
    }
  };
  // Terms are split on spaces, except inside /.../.
  const terms = source.match(/\/(?:\\.|[^/\\])*\/|\S+/g) ?? [];
  for (const term of terms) {
    if (term === 'handshake' || term === '101') {
      const stage = term === 'handshake' ? 'request' : 'response';
      if (handshake !== null && handshake !== stage) fail("'handshake' holds the upgrade request and '101' the response: one breakpoint holds one of them");
      handshake = stage;
    }
    else if (term === 'client' || term === 'server') from = term;
    else if (term === 'text') opcode = 1;
    else if (term === 'binary') opcode = 2;
    else if (term.length >= 2 && term.startsWith('/') && term.endsWith('/')) text = re(term.slice(1, -1));
    else if (term.startsWith('path:')) path = re(term.slice(5));
    else if (term.startsWith('$')) {
      const eq = term.indexOf('=');
      const p = parseJsonPathFor(eq < 0 ? term : term.slice(0, eq), `breakpoint '${source}': path`);
      if (eq < 0) json = { path: p };
      else {
        const raw = term.slice(eq + 1);
        let equals: JsonValue;
        try {
          equals = JSON.parse(raw) as JsonValue;
        } catch {
          equals = raw;
        }
        json = { path: p, equals };
      }
    } else fail(`unknown term '${term}' (expected client, server, text, binary, /REGEX/, $.json.path[=VALUE], path:REGEX, handshake or 101)`);
  }
  if (handshake !== null && (from !== null || opcode !== null || text !== null || json !== null))
    fail(`'${handshake === 'request' ? 'handshake' : '101'}' holds the ${handshake === 'request' ? 'upgrade request' : "upstream's 101"}: it goes with path:REGEX only`);
  return { match: { from, opcode, text, json, path }, handshake };
}

/** The breakpoints as a source of `hold` steps; off: nothing is held. */
export class BreakpointSource implements GateSource {
  #list: Breakpoint[] = [];
  #nextId = 1;
  #enabled = true;
  readonly #holdTimeoutMs: number | null;
  readonly #onChange: () => void;

  constructor(holdTimeoutMs: number | null, onChange: () => void) {
    this.#holdTimeoutMs = holdTimeoutMs;
    this.#onChange = onChange;
  }

  get list(): readonly Breakpoint[] {
    return this.#list;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Adds a breakpoint from a filter (throws a UsageError for a bad one). */
  add(source: string): Breakpoint {
    const { match, handshake } = parseFilter(source);
    const bp = { id: this.#nextId++, source: source.trim(), match, handshake };
    this.#list = [...this.#list, bp];
    this.#enabled = true;
    this.#onChange();
    return bp;
  }

  remove(id: number): void {
    this.#list = this.#list.filter((b) => b.id !== id);
    this.#onChange();
  }

  /** Interception off (every breakpoint kept but inactive) or back on. */
  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    this.#onChange();
  }

  mayApply(from: Side, ctx: ConnectionContext): boolean {
    if (!this.#enabled) return false;
    return this.#list.some((b) => b.handshake === null && (b.match.from === null || b.match.from === from) && (b.match.path === null || (resetRe(b.match.path), b.match.path.test(ctx.target))));
  }

  decide(view: MessageView, ctx: ConnectionContext): Verdict {
    if (!this.#enabled) return [];
    const hit = this.#list.find((b) => b.handshake === null && matchMessage(b.match, view, ctx.target));
    if (!hit) return [];
    return [{ kind: 'hold', timeoutMs: this.#holdTimeoutMs, by: 'user', name: `breakpoint ${hit.id}` }];
  }
}

/** Whether the upgrade request (or the 101) of a connection to `target` is to be held, and by which breakpoint. */
export function handshakeBreakpoint(source: BreakpointSource, target: string, stage: HandshakeStage = 'request'): Breakpoint | null {
  if (!source.enabled) return null;
  return source.list.find((b) => b.handshake === stage && (b.match.path === null || (resetRe(b.match.path), b.match.path.test(target)))) ?? null;
}

function resetRe(re: RegExp): void {
  re.lastIndex = 0;
}
