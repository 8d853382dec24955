/**
 * What decides for a connection's gates: the sources of actions (rules, script, faults, the
 * dashboard's breakpoints) combined in that order. A direction is gated only while some source
 * may apply to it (cli.md: "a direction is only re-framed while something applies to it").
 */
import type { Side } from '../session/events.js';
import type { Actor, MessageView, Step, Verdict } from './actions.js';
import type { DirectionPolicy } from './direction-gate.js';
import { Random, type Fault } from './fault-spec.js';
import { rulesMayApply, rulesVerdict, type RuleSet } from './rules.js';
import type { ScriptHost } from './script.js';

/** The connection a decision is for. */
export interface ConnectionContext {
  readonly conn: number;
  /** Request target (path and query). */
  readonly target: string;
}

/** One source of actions. */
export interface GateSource {
  mayApply(from: Side, ctx: ConnectionContext): boolean;
  decide(view: MessageView, ctx: ConnectionContext): Verdict | Promise<Verdict>;
  control?(from: Side, opcode: 0x9 | 0xa, ctx: ConnectionContext): Actor | null;
}

/** `--rules`: the rules in force (the watcher swaps them). */
export class RulesSource implements GateSource {
  constructor(
    public rules: RuleSet,
    readonly holdTimeoutMs: number | null,
  ) {}
  /** Asked at every message boundary: remembered per connection until the rules are reloaded. */
  readonly #memo = new WeakMap<ConnectionContext, { rules: RuleSet; client: boolean; server: boolean }>();

  mayApply(from: Side, ctx: ConnectionContext): boolean {
    let m = this.#memo.get(ctx);
    if (m === undefined || m.rules !== this.rules) {
      m = { rules: this.rules, client: rulesMayApply(this.rules, 'client', ctx.target), server: rulesMayApply(this.rules, 'server', ctx.target) };
      this.#memo.set(ctx, m);
    }
    return m[from];
  }
  decide(view: MessageView, ctx: ConnectionContext): Verdict {
    return rulesVerdict(this.rules, view, ctx.target, this.holdTimeoutMs);
  }
}

/** `--script`: its onMessage hook. */
export class ScriptSource implements GateSource {
  constructor(readonly host: ScriptHost) {}
  mayApply(): boolean {
    return this.host.hasMessageHook;
  }
  decide(view: MessageView, ctx: ConnectionContext): Promise<Verdict> {
    return this.host.onMessage({
      conn: ctx.conn,
      from: view.from,
      index: view.index,
      path: ctx.target,
      opcode: view.opcode === 1 ? 'text' : 'binary',
      text: view.text,
      data: view.data,
      compressed: view.compressed,
      truncated: view.truncated,
    });
  }
}

/**
 * `--fault`: per connection, because `cut-after=100msg` counts and the random streams are per
 * connection, direction and fault (so `--seed` repeats a connection's choices however connections
 * interleave).
 */
export class FaultSource implements GateSource {
  readonly #faults: readonly Fault[];
  readonly #random: ReadonlyMap<string, Random>;
  readonly #counts = { client: 0, server: 0 };
  #cut = false;

  constructor(faults: readonly Fault[], seed: number, conn: number) {
    this.#faults = faults;
    const random = new Map<string, Random>();
    faults.forEach((f, i) => {
      random.set(`client:${i}`, new Random(seed, conn, 0, i));
      random.set(`server:${i}`, new Random(seed, conn, 1, i));
    });
    this.#random = random;
  }

  mayApply(from: Side, ctx: ConnectionContext): boolean {
    return this.#faults.some((f) => f.kind !== 'refuse' && !(f.kind === 'cut-after' && 'ms' in f) && this.#applies(f, from, ctx));
  }

  decide(view: MessageView, ctx: ConnectionContext): Verdict {
    const steps: Step[] = [];
    this.#counts[view.from]++;
    this.#faults.forEach((f, i) => {
      if (!this.#applies(f, view.from, ctx)) return;
      const random = this.#random.get(`${view.from}:${i}`)!;
      const who = { by: 'fault' as const, name: f.spec };
      switch (f.kind) {
        case 'latency': {
          if (!random.chance(f.rate)) return;
          const jitter = f.jitterMs > 0 ? (random.next() * 2 - 1) * f.jitterMs : 0;
          steps.push({ kind: 'delay', ms: Math.max(0, f.ms + jitter), ...who });
          return;
        }
        case 'drop':
        case 'duplicate':
          if (random.chance(f.rate)) steps.push({ kind: f.kind, ...who });
          return;
        case 'corrupt':
          if (random.chance(f.rate)) steps.push({ kind: 'corrupt', corrupt: f.corrupt, ...who });
          return;
        case 'fragment':
          if (random.chance(f.rate)) steps.push({ kind: 'fragment', frames: f.frames, ...who });
          return;
        case 'cut-after': {
          if (!('messages' in f) || this.#cut) return;
          const count = f.side === null ? this.#counts.client + this.#counts.server : this.#counts[f.side];
          if (count >= f.messages && random.chance(f.rate)) {
            this.#cut = true;
            steps.push({ kind: 'cut', ...who });
          }
          return;
        }
        default:
          return;
      }
    });
    return steps;
  }

  control(from: Side, opcode: 0x9 | 0xa, ctx: ConnectionContext): Actor | null {
    for (let i = 0; i < this.#faults.length; i++) {
      const f = this.#faults[i]!;
      if (f.kind !== 'swallow' || f.control !== (opcode === 0x9 ? 'ping' : 'pong') || !this.#applies(f, from, ctx)) continue;
      if (this.#random.get(`${from}:${i}`)!.chance(f.rate)) return { by: 'fault', name: f.spec };
    }
    return null;
  }

  /** `refuse=STATUS` for this connection (decided once, at the upgrade), or null. */
  refusal(ctx: ConnectionContext): { readonly status: number; readonly actor: Actor } | null {
    for (let i = 0; i < this.#faults.length; i++) {
      const f = this.#faults[i]!;
      if (f.kind === 'refuse' && this.#applies(f, null, ctx) && this.#random.get(`client:${i}`)!.chance(f.rate)) return { status: f.status, actor: { by: 'fault', name: f.spec } };
    }
    return null;
  }

  /** `cut-after=TIME` for this connection, or null. */
  cutAfter(ctx: ConnectionContext): { readonly ms: number; readonly actor: Actor } | null {
    for (let i = 0; i < this.#faults.length; i++) {
      const f = this.#faults[i]!;
      if (f.kind === 'cut-after' && 'ms' in f && this.#applies(f, null, ctx) && this.#random.get(`client:${i}`)!.chance(f.rate)) return { ms: f.ms, actor: { by: 'fault', name: f.spec } };
    }
    return null;
  }

  #applies(f: Fault, from: Side | null, ctx: ConnectionContext): boolean {
    if (from !== null && f.side !== null && f.side !== from) return false;
    if (f.path !== null) {
      f.path.lastIndex = 0;
      if (!f.path.test(ctx.target)) return false;
    }
    return true;
  }
}

/** The sources of one connection, as each direction's gate asks them. */
export class ConnectionPolicy {
  readonly #sources: readonly GateSource[];
  readonly #ctx: ConnectionContext;

  constructor(sources: readonly GateSource[], ctx: ConnectionContext) {
    this.#sources = sources;
    this.#ctx = ctx;
  }

  get context(): ConnectionContext {
    return this.#ctx;
  }

  direction(from: Side): DirectionPolicy {
    const sources = this.#sources;
    const ctx = this.#ctx;
    return {
      active: () => sources.some((s) => s.mayApply(from, ctx)),
      decide: (view) => {
        const results: Array<Verdict | Promise<Verdict>> = [];
        let async = false;
        for (const s of sources) {
          if (!s.mayApply(from, ctx)) continue;
          const r = s.decide(view, ctx);
          if (r instanceof Promise) async = true;
          results.push(r);
        }
        if (!async) return (results as Verdict[]).flat();
        return Promise.all(results).then((all) => all.flat());
      },
      control: (opcode) => {
        for (const s of sources) {
          const r = s.control?.(from, opcode, ctx) ?? null;
          if (r !== null) return r;
        }
        return null;
      },
    };
  }
}
