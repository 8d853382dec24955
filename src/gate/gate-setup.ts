/**
 * The gate flags of a live run (`--rules`, `--script`, `--fault`, `--seed`, `--hold-timeout`),
 * checked and loaded before anything listens (a mistake exits 2), and the per-connection policy
 * the relay asks for. Without any of them there is no gate at all and the relay is the untouched
 * byte-for-byte one.
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { Side } from '../session/events.js';
import type { Actor, GateIntercept } from './actions.js';

/** Holds upgrade requests until a person forwards or drops them (GateControl). */
export interface HandshakeHolder {
  /** Some handshake breakpoint is set and interception is on. */
  readonly active: boolean;
  /** Resolves null to let the upgrade go on, or with a refusal (dropped). */
  hold(ctx: ConnectionContext, intercept: (event: GateIntercept) => void, timeoutMs: number | null): Promise<{ status: number; body: string; actor: Actor } | null>;
  /** Whether a breakpoint holds the upstream's 101 to an upgrade request for `target`. */
  holdsResponse(target: string): boolean;
  /** Holds the upstream's 101: resolves null to relay it, or with the refusal the client gets instead. */
  holdResponse(ctx: ConnectionContext, intercept: (event: GateIntercept) => void, timeoutMs: number | null): Promise<{ status: number; body: string; actor: Actor } | null>;
  /** The client (or, for a held 101, either peer) left while the upgrade was held. */
  cancel(conn: number): void;
}
/** The hold of one connection's 101 (a `101` breakpoint). */
export interface ResponseHold {
  /** Resolves null to relay the 101, or with the refusal the client gets instead. */
  hold(intercept: (event: GateIntercept) => void): Promise<{ status: number; body: string; actor: Actor } | null>;
  /** A peer left while the 101 was held: the hold ends (the promise resolves null). */
  cancel(): void;
}
import type { ConnectionGate } from './connection-gate.js';
import { parseFaults, parseSeed, type Fault } from './fault-spec.js';
import { ConnectionPolicy, FaultSource, RulesSource, ScriptSource, type ConnectionContext, type GateSource } from './policy.js';
import { loadRules, RulesWatcher } from './rules.js';
import { ScriptHost } from './script.js';

export interface GateFlags {
  readonly rules?: string | undefined;
  readonly script?: string | undefined;
  readonly fault?: readonly string[] | undefined;
  readonly seed?: string | undefined;
  readonly 'hold-timeout'?: string | undefined;
}

/** The flag definitions, for node:util parseArgs. */
export const GATE_FLAGS = {
  rules: { type: 'string' },
  script: { type: 'string' },
  fault: { type: 'string', multiple: true },
  seed: { type: 'string' },
  'hold-timeout': { type: 'string' },
} as const;

export const GATE_HELP = `      --rules FILE         act on matching messages (JSON; reloaded when it changes); see docs/changing-traffic.md
      --script FILE.mjs    hooks onMessage/onHandshake decide what happens to each message
      --fault SPEC         a WebSocket-aware fault (repeatable): latency=200ms,jitter=50ms  drop=5%
                           duplicate=1%  swallow=ping|pong  corrupt=utf8|rsv1|mask  fragment=8
                           cut-after=30s|100msg  refuse=503; each takes rate=P%, @client|@server
                           and ~PATH-REGEX, e.g. drop=5%@client~^/chat
      --seed N             repeat the random choices of --fault
      --hold-timeout S     release held messages unchanged after S seconds (rules: 30 by default)
`;

export interface ConnectionSetup {
  readonly policy: ConnectionPolicy;
  readonly faults: FaultSource | null;
}

export class GateSetup {
  readonly holdTimeoutMs: number | null;
  readonly seed: number;
  readonly #faults: readonly Fault[];
  readonly #rules: RulesSource | null;
  readonly #script: ScriptHost | null;
  readonly #watcher: RulesWatcher | null;
  readonly #listeners = new Set<() => void>();
  /** Extra sources (the dashboard's breakpoints). */
  readonly #extra: GateSource[] = [];
  /** The dashboard's hold of upgrade requests (breakpoints with `handshake`), if any. */
  handshakeHolder: HandshakeHolder | null = null;
  /** The gates of live connections, for the dashboard's commands. */
  readonly #live = new Map<number, ConnectionGate>();

  private constructor(options: {
    holdTimeoutMs: number | null;
    seed: number;
    faults: readonly Fault[];
    rules: RulesSource | null;
    script: ScriptHost | null;
    watchRules: { file: string; text: string } | null;
    onProblem: (line: string) => void;
  }) {
    this.holdTimeoutMs = options.holdTimeoutMs;
    this.seed = options.seed;
    this.#faults = options.faults;
    this.#rules = options.rules;
    this.#script = options.script;
    const rules = options.rules;
    this.#watcher =
      options.watchRules && rules
        ? new RulesWatcher(
            options.watchRules.file,
            options.watchRules.text,
            (set) => {
              rules.rules = set;
              options.onProblem(`frametap: --rules ${options.watchRules!.file}: reloaded (${set.rules.length} rule${set.rules.length === 1 ? '' : 's'})`);
              this.#changed();
            },
            (line) => options.onProblem(`frametap: ${line}`),
          )
        : null;
  }

  /** Checks and loads the flags; null when none was given. `onProblem` gets one line per later problem. */
  static async fromFlags(flags: GateFlags, onProblem: (line: string) => void): Promise<GateSetup | null> {
    const faults = parseFaults(flags.fault ?? []);
    const seed = flags.seed === undefined ? randomInt(2 ** 31) : parseSeed(flags.seed);
    let holdTimeoutMs: number | null = null;
    if (flags['hold-timeout'] !== undefined) {
      const s = Number(flags['hold-timeout']);
      if (!Number.isFinite(s) || s <= 0 || s > 2_147_483) throw new UsageError(`bad --hold-timeout '${flags['hold-timeout']}': expected a positive number of seconds`);
      holdTimeoutMs = s * 1000;
    }
    if (flags.seed !== undefined && faults.length === 0) throw new UsageError('--seed repeats the random choices of --fault: give a --fault too');
    const rulesSet = flags.rules !== undefined ? loadRules(flags.rules) : null;
    const script = flags.script !== undefined ? await ScriptHost.load(flags.script, { onProblem: (line) => onProblem(`frametap: ${line}`) }) : null;
    if (rulesSet === null && script === null && faults.length === 0 && holdTimeoutMs === null) return null;
    return new GateSetup({
      holdTimeoutMs,
      seed,
      faults,
      rules: rulesSet ? new RulesSource(rulesSet, holdTimeoutMs) : null,
      script,
      watchRules: rulesSet && flags.rules ? { file: flags.rules, text: fs.readFileSync(flags.rules, 'utf8') } : null,
      onProblem,
    });
  }

  /** An empty setup (the dashboard adds its breakpoints as a source). */
  static empty(holdTimeoutMs: number | null = null): GateSetup {
    return new GateSetup({ holdTimeoutMs, seed: 0, faults: [], rules: null, script: null, watchRules: null, onProblem: () => {} });
  }

  /** Adds a source (the dashboard's breakpoints) consulted after the others. */
  addSource(source: GateSource): void {
    this.#extra.push(source);
    this.#changed();
  }

  /** Called when what may apply changed (rules reloaded, a breakpoint set): gates re-check. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  notifyChanged(): void {
    this.#changed();
  }

  /** The policy of one connection. */
  connection(ctx: ConnectionContext): ConnectionSetup {
    const sources: GateSource[] = [];
    if (this.#rules) sources.push(this.#rules);
    if (this.#script) sources.push(new ScriptSource(this.#script));
    const faults = this.#faults.length > 0 ? new FaultSource(this.#faults, this.seed, ctx.conn) : null;
    if (faults) sources.push(faults);
    sources.push(...this.#extra);
    return { policy: new ConnectionPolicy(sources, ctx), faults };
  }

  /** A connection's gate is live (the relay started) until `unregister`. */
  register(conn: number, gate: ConnectionGate): void {
    this.#live.set(conn, gate);
  }

  unregister(conn: number): void {
    this.#live.delete(conn);
  }

  live(conn: number): ConnectionGate | null {
    return this.#live.get(conn) ?? null;
  }

  liveGates(): IterableIterator<[number, ConnectionGate]> {
    return this.#live.entries();
  }

  /** Whether anything may refuse an upgrade (a script's onHandshake, a `refuse=` fault). */
  get mayRefuse(): boolean {
    return (this.#script?.hasHandshakeHook ?? false) || this.#faults.some((f) => f.kind === 'refuse') || (this.handshakeHolder?.active ?? false);
  }

  /** Whether the upgrade is refused by frametap itself (a script's onHandshake, then `refuse=` faults). */
  async refusal(
    ctx: ConnectionContext,
    headers: ReadonlyArray<readonly [string, string]>,
    faults: FaultSource | null,
    intercept: (event: GateIntercept) => void = () => {},
  ): Promise<{ status: number; body: string; actor: Actor } | null> {
    const holder = this.handshakeHolder;
    if (holder?.active) {
      const decision = await holder.hold(ctx, intercept, this.holdTimeoutMs);
      if (decision !== null) return decision;
    }
    if (this.#script?.hasHandshakeHook) {
      const v = await this.#script.onHandshake({ conn: ctx.conn, path: ctx.target, headers });
      if (v.refuse) return { ...v.refuse, actor: { by: 'script', name: 'onHandshake' } };
    }
    const r = faults?.refusal(ctx) ?? null;
    return r ? { status: r.status, body: '', actor: r.actor } : null;
  }

  /**
   * A hold of the upstream's 101 for a connection, when a breakpoint asks for one (checked when
   * the 101 arrives: a breakpoint set meanwhile applies); null: relay it at once.
   */
  responseHold(ctx: ConnectionContext): ResponseHold | null {
    const holder = this.handshakeHolder;
    if (!holder || !holder.holdsResponse(ctx.target)) return null;
    return { hold: (intercept) => holder.holdResponse(ctx, intercept, this.holdTimeoutMs), cancel: () => holder.cancel(ctx.conn) };
  }

  /** Whether anything may act on `from`'s messages of a connection to `target` (for tests and the bench). */
  mayApply(from: Side, ctx: ConnectionContext): boolean {
    return this.connection(ctx).policy.direction(from).active();
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    await this.#script?.close();
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }
}
