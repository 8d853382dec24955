/**
 * `--script FILE.mjs`: loads the module in a worker thread and calls its hooks there, each call
 * time-boxed. A hook runs in its own thread so that even a hook stuck in a loop cannot stall the
 * relay: after the time box the message goes on unchanged, the problem is reported once per kind,
 * and the worker is replaced by a fresh one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UsageError } from '../errors.js';
import type { Action, OutMessage, Step, Verdict } from './actions.js';
import type { ScriptHandshake, ScriptMessage } from './script-api.js';
import { MAX_FRAGMENTS } from './fault-spec.js';

/** Default time box of one hook call. */
export const DEFAULT_HOOK_TIMEOUT_MS = 1000;

// The worker is plain JavaScript given as source (`eval`), so it needs no TypeScript loader.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let mod = null;
const ready = import(workerData.url).then((m) => {
  mod = typeof m.onMessage === 'function' || typeof m.onHandshake === 'function' ? m : (m.default ?? {});
  parentPort.postMessage({ type: 'ready', onMessage: typeof mod.onMessage === 'function', onHandshake: typeof mod.onHandshake === 'function' });
}, (error) => parentPort.postMessage({ type: 'load-error', message: String(error && error.message || error) }));
parentPort.on('message', async ({ id, hook, arg }) => {
  try {
    await ready;
    if (arg.data) arg.data = Buffer.from(arg.data.buffer, arg.data.byteOffset, arg.data.byteLength);
    const result = await mod[hook](arg);
    parentPort.postMessage({ type: 'result', id, ok: true, result });
  } catch (error) {
    parentPort.postMessage({ type: 'result', id, ok: false, message: String(error && error.message || error) });
  }
});
`;

interface Pending {
  readonly resolve: (value: { ok: true; result: unknown } | { ok: false; why: string }) => void;
  readonly timer: NodeJS.Timeout;
}

export interface HandshakeVerdict {
  readonly refuse: { readonly status: number; readonly body: string } | null;
}

export class ScriptHost {
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #onProblem: (line: string) => void;
  readonly #name: string;
  #worker: Worker | null = null;
  #hooks = { onMessage: false, onHandshake: false };
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  readonly #reported = new Set<string>();
  #closed = false;

  private constructor(file: string, timeoutMs: number, onProblem: (line: string) => void) {
    this.#url = pathToFileURL(path.resolve(file)).href;
    this.#timeoutMs = timeoutMs;
    this.#onProblem = onProblem;
    this.#name = path.basename(file);
  }

  /** Loads the script; a missing file, a syntax error or a module without hooks is a UsageError. */
  static async load(file: string, options: { readonly timeoutMs?: number; readonly onProblem: (line: string) => void }): Promise<ScriptHost> {
    if (!fs.existsSync(file)) throw new UsageError(`bad --script ${file}: no such file`);
    const host = new ScriptHost(file, options.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS, options.onProblem);
    try {
      host.#hooks = await host.#start();
    } catch (error) {
      await host.close();
      throw new UsageError(`bad --script ${file}: ${(error as Error).message}`);
    }
    if (!host.#hooks.onMessage && !host.#hooks.onHandshake) {
      await host.close();
      throw new UsageError(`bad --script ${file}: exports neither onMessage nor onHandshake`);
    }
    return host;
  }

  get hasMessageHook(): boolean {
    return this.#hooks.onMessage;
  }

  get hasHandshakeHook(): boolean {
    return this.#hooks.onHandshake;
  }

  /** The steps the script asks for one message; never rejects. */
  async onMessage(message: ScriptMessage): Promise<Verdict> {
    if (!this.#hooks.onMessage) return [];
    const r = await this.#call('onMessage', message);
    if (!r.ok) {
      this.#report(`onMessage: ${r.why}`, `--script ${this.#name}: onMessage for ${message.from} message ${message.index} of conn ${message.conn} ${r.why}; forwarded unchanged`);
      return [];
    }
    try {
      return toSteps(r.result, this.#name);
    } catch (error) {
      this.#report(`bad:${(error as Error).message}`, `--script ${this.#name}: onMessage returned ${(error as Error).message}; forwarded unchanged`);
      return [];
    }
  }

  /** What the script says of an upgrade request; never rejects. */
  async onHandshake(handshake: ScriptHandshake): Promise<HandshakeVerdict> {
    if (!this.#hooks.onHandshake) return { refuse: null };
    const r = await this.#call('onHandshake', handshake);
    if (!r.ok) {
      this.#report(`onHandshake: ${r.why}`, `--script ${this.#name}: onHandshake for conn ${handshake.conn} ${r.why}; the upgrade goes on`);
      return { refuse: null };
    }
    const v = r.result;
    if (v === undefined || v === null || v === 'forward' || (isObject(v) && v.action === 'forward')) return { refuse: null };
    if (isObject(v) && v.action === 'refuse' && typeof v.status === 'number' && Number.isInteger(v.status) && v.status >= 200 && v.status <= 599) {
      return { refuse: { status: v.status, body: typeof v.body === 'string' ? v.body : '' } };
    }
    this.#report('bad-handshake', `--script ${this.#name}: onHandshake returned ${describe(v)} (expected nothing, 'forward' or {action: 'refuse', status}); the upgrade goes on`);
    return { refuse: null };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, why: 'was cut short: frametap is stopping' });
      this.#pending.delete(id);
    }
    const w = this.#worker;
    this.#worker = null;
    if (w) await w.terminate();
  }

  #start(): Promise<{ onMessage: boolean; onHandshake: boolean }> {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { url: this.#url } });
    // Without unref a stuck hook would keep frametap from exiting.
    worker.unref();
    this.#worker = worker;
    return new Promise((resolve, reject) => {
      worker.on('message', (m: { type: string; id?: number; ok?: boolean; result?: unknown; message?: string; onMessage?: boolean; onHandshake?: boolean }) => {
        if (m.type === 'ready') resolve({ onMessage: m.onMessage === true, onHandshake: m.onHandshake === true });
        else if (m.type === 'load-error') reject(new Error(m.message));
        else if (m.type === 'result' && m.id !== undefined) {
          const p = this.#pending.get(m.id);
          if (!p) return;
          this.#pending.delete(m.id);
          clearTimeout(p.timer);
          p.resolve(m.ok ? { ok: true, result: m.result } : { ok: false, why: `threw: ${m.message}` });
        }
      });
      worker.on('error', (error) => {
        reject(error);
        this.#workerFailed(`crashed: ${error.message}`);
      });
      worker.on('exit', () => {
        if (this.#worker === worker && !this.#closed) this.#workerFailed('exited');
      });
    });
  }

  #call(hook: 'onMessage' | 'onHandshake', arg: object): Promise<{ ok: true; result: unknown } | { ok: false; why: string }> {
    if (this.#closed) return Promise.resolve({ ok: false, why: 'was not called: frametap is stopping' });
    const worker = this.#worker;
    if (worker === null) return Promise.resolve({ ok: false, why: 'was not called: the script is not running' });
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve({ ok: false, why: `took longer than ${this.#timeoutMs} ms (the script was restarted)` });
        this.#restart();
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, timer });
      try {
        worker.postMessage({ id, hook, arg });
      } catch (error) {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve({ ok: false, why: `could not be called: ${(error as Error).message}` });
      }
    });
  }

  /** A hook overran its time box: the worker may be stuck in a loop; start a fresh one. */
  #restart(): void {
    if (this.#closed) return;
    const old = this.#worker;
    this.#worker = null;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, why: 'was cut short: the script was restarted after another call overran' });
      this.#pending.delete(id);
    }
    void old?.terminate();
    this.#start().catch((error: Error) => this.#report('restart', `--script ${this.#name}: could not be restarted (${error.message}); messages go on unchanged`));
  }

  #workerFailed(why: string): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, why: `was cut short: the script ${why}` });
      this.#pending.delete(id);
    }
  }

  #report(kind: string, line: string): void {
    if (this.#reported.has(kind)) return;
    this.#reported.add(kind);
    this.#onProblem(line);
  }
}

/** A hook's answer as gate steps; throws (with what was wrong) for something that is not an action. */
export function toSteps(result: unknown, name: string): Verdict {
  if (result === undefined || result === null) return [];
  const list = Array.isArray(result) ? result : [result];
  const steps: Step[] = [];
  for (const item of list) {
    const action = toAction(item);
    if (action !== null) steps.push({ ...action, by: 'script', name });
  }
  return steps;
}

function toAction(v: unknown): Action | null {
  if (v === 'forward') return null;
  if (v === 'drop') return { kind: 'drop' };
  if (!isObject(v) || typeof v.action !== 'string') throw new Error(describe(v));
  switch (v.action) {
    case 'forward':
      return null;
    case 'drop':
      return { kind: 'drop' };
    case 'duplicate':
      return { kind: 'duplicate' };
    case 'cut':
      return { kind: 'cut' };
    case 'edit':
      return { kind: 'edit', message: outMessage(v, 'edit') };
    case 'delay':
      if (typeof v.ms !== 'number' || !(v.ms >= 0) || v.ms > 2_147_483_647) throw new Error(`{action: 'delay'} without a number of ms`);
      return { kind: 'delay', ms: v.ms };
    case 'respond':
      return { kind: 'respond', message: outMessage(v, 'respond'), forward: v.forward === true };
    case 'close': {
      const code = v.code === undefined ? 1000 : v.code;
      if (typeof code !== 'number' || !((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))) {
        throw new Error(`{action: 'close'} with code ${String(code)}, which may not be sent (RFC 6455 §7.4)`);
      }
      const toward = v.toward === undefined ? 'both' : v.toward;
      if (toward !== 'client' && toward !== 'server' && toward !== 'both') throw new Error(`{action: 'close'} toward ${String(toward)}`);
      return { kind: 'close', code, reason: typeof v.reason === 'string' ? v.reason : '', toward };
    }
    case 'hold':
      if (v.timeout !== undefined && v.timeout !== null && !(typeof v.timeout === 'number' && v.timeout > 0)) throw new Error(`{action: 'hold'} with a timeout that is not a number of seconds`);
      return { kind: 'hold', ...(v.timeout === undefined ? {} : { timeoutMs: v.timeout === null ? null : (v.timeout as number) * 1000 }) };
    case 'fragment':
      if (typeof v.frames !== 'number' || !Number.isInteger(v.frames) || v.frames < 1 || v.frames > MAX_FRAGMENTS) throw new Error(`{action: 'fragment'} without a frame count of 1 to ${MAX_FRAGMENTS}`);
      return { kind: 'fragment', frames: v.frames };
    default:
      throw new Error(`an unknown action '${v.action}'`);
  }
}

function outMessage(v: Record<string, unknown>, what: string): OutMessage {
  if (typeof v.text === 'string') return { opcode: 1, data: Buffer.from(v.text, 'utf8') };
  if (v.data instanceof Uint8Array) return { opcode: 2, data: Buffer.from(v.data) };
  throw new Error(`{action: '${what}'} without text (a string) or data (bytes)`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}
