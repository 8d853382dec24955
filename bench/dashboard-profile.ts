/**
 * Where the dashboard's time goes under relay load: `frametap --ui tui` (optionally with more
 * flags, e.g. `-w cap.pcapng`) in a detached tmux 200×50 under `node --cpu-prof`, driven by
 * bench/relay.ts's load (4 connections × 32 in flight, 64 B and 4 KiB binary), then quit with `q`
 * so the profile is written. Prints the top self-time and total-time functions.
 *
 *   node bin/run-ts.js bench/dashboard-profile.ts [--rounds N] [--sizes 64,4096] [--top N] [--keep DIR] [--cli PATH] [--node-flags '…'] [--ui tui|discard|none] [--pane-log FILE]
 *     [-- extra frametap flags]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { cpuMicros, freePort, load, startEcho } from './relay.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}


/** CPU ticks (user + system) of each thread of `pid` (proc(5): /proc/PID/task/TID/stat). */
function threadTicks(pid: number): Map<string, { comm: string; ticks: number }> {
  const out = new Map<string, { comm: string; ticks: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = `${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}${tid === String(pid) ? ' (main)' : ''}`;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { comm, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Self and total (inclusive, each sample counted once per function) shares of the samples, by function. */
export function summarize(profile: Profile): { self: Map<string, number>; total: Map<string, number>; samples: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode): string => {
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const where = url ? `${url.startsWith(ROOT) ? relative(ROOT, url) : url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}` : '';
    return `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim();
  };
  const labels = new Map(profile.nodes.map((n) => [n.id, label(n)]));
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const chains = new Map<number, readonly string[]>();
  for (const id of profile.samples) {
    const l = labels.get(id)!;
    self.set(l, (self.get(l) ?? 0) + 1);
    let chain = chains.get(id);
    if (!chain) {
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) seen.add(labels.get(byId.get(at)!.id)!);
      chain = [...seen];
      chains.set(id, chain);
    }
    for (const f of chain) total.set(f, (total.get(f) ?? 0) + 1);
  }
  return { self, total, samples: profile.samples.length };
}

function top(map: Map<string, number>, samples: number, n: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / samples).toFixed(1).padStart(5)}%  ${k}`);
}

export async function main(argv: readonly string[] = []): Promise<void> {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const extra = dash >= 0 ? argv.slice(dash + 1) : [];
  const arg = (name: string, def: string): string => {
    const i = own.indexOf(name);
    return i >= 0 ? own[i + 1]! : def;
  };
  const rounds = Number(arg('--rounds', '3'));
  const n = Number(arg('--top', '30'));
  const keep = arg('--keep', '');
  // Another checkout's CLI, to compare with (e.g. main's).
  const cli = arg('--cli', join(ROOT, 'bin/frametap.js'));
  // More flags for node (e.g. `--single-threaded-gc`, to see the GC's share on the main thread).
  const nodeFlags = arg('--node-flags', '');
  // `--ui discard`: the relay inspecting into a sink that drops every event (bench/relay.ts's
  // inspect→discard), to tell the dashboard's own share from inspection's.
  const ui = arg('--ui', 'tui');
  const uiArgs = ui === 'discard' ? 'FRAMETAP_BENCH_DISCARD=1' : '';
  // bench/relay.ts's round trips per connection for these sizes.
  const sizes = arg('--sizes', '64,4096')
    .split(',')
    .map((x) => Number(x))
    .map((size) => [size, size <= 64 ? 1500 : size <= 4096 ? 800 : 24] as const);
  const dir = keep || mkdtempSync(join(tmpdir(), 'frametap-prof-'));
  mkdirSync(dir, { recursive: true });
  const echo = await startEcho();
  const port = await freePort();
  const socket = `frametap-prof-${process.pid}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args]).toString();
  const stats = join(dir, 'stats.json');
  const cmd = `${uiArgs} FRAMETAP_DASHBOARD_STATS=${stats} UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4} exec ${process.execPath} ${nodeFlags} --cpu-prof --cpu-prof-dir=${dir} ${cli} -u ${echo.url} -l 127.0.0.1:${port} --ui ${ui === 'discard' ? 'none' : ui} ${extra.join(' ')}`;
  tmux('new-session', '-d', '-s', 'prof', '-x', '200', '-y', '50', cmd);
  const pid = Number(tmux('list-panes', '-t', 'prof', '-F', '#{pane_pid}').trim());
  // Everything the pane shows, V8's traces among it (e.g. --node-flags '--trace-deopt').
  const paneLog = arg('--pane-log', '');
  if (paneLog) tmux('pipe-pane', '-t', 'prof', '-o', `cat >> ${paneLog}`);
  const tmuxPid = Number(tmux('display-message', '-p', '-t', 'prof', '#{pid}').trim());
  const readStats = (): { redraws: number; renderMs: number; loopDelayP99Ms: number; loopDelayMaxMs: number } | null => {
    try {
      return JSON.parse(readFileSync(stats, 'utf8'));
    } catch {
      return null;
    }
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
        ws.once('open', () => (ws.terminate(), resolve(true)));
        ws.once('error', () => resolve(false));
      });
      if (up) break;
      if (Date.now() > deadline) throw new Error('dashboard-profile: the dashboard did not listen');
      await new Promise((r) => setTimeout(r, 100));
    }
    const threadsBefore = threadTicks(pid);
    for (let r = 0; r < rounds; r++) {
      for (const [size, per] of sizes) {
        const before = readStats();
        const tmuxBefore = cpuMicros(tmuxPid);
        const s = await load(`ws://127.0.0.1:${port}`, size, per, pid);
        const tmuxCpu = (cpuMicros(tmuxPid) - tmuxBefore) / (per * 4);
        // The stats file is rewritten every 250 ms: let it catch up with the round.
        await new Promise((r) => setTimeout(r, 300));
        const after = readStats();
        const draws = before && after ? `, ${after.redraws - before.redraws} redraws taking ${(after.renderMs - before.renderMs).toFixed(0)} ms, loop delay p99 ${after.loopDelayP99Ms} ms max ${after.loopDelayMaxMs} ms` : '';
        process.stdout.write(`round ${r + 1} ${size} B: ${s.msgPerSec.toFixed(0)} msg/s, ${s.cpuUsPerMsg!.toFixed(1)} CPU µs/msg (tmux ${tmuxCpu.toFixed(1)})${draws}\n`);
      }
    }
    const threadsAfter = threadTicks(pid);
    const lines = [...threadsAfter]
      .map(([tid, t]) => ({ comm: t.comm, ticks: t.ticks - (threadsBefore.get(tid)?.ticks ?? 0) }))
      .filter((t) => t.ticks > 0)
      .sort((a, b) => b.ticks - a.ticks);
    process.stdout.write(`threads during the rounds (CPU ticks, user+system): ${lines.map((t) => `${t.comm} ${t.ticks}`).join(', ')}\n`);
    // The dashboard quits on q; the other modes on SIGINT (which writes the profile too).
    if (ui === 'tui') tmux('send-keys', '-t', 'prof', 'q');
    else process.kill(pid, 'SIGINT');
    const quitBy = Date.now() + 20_000;
    while (!readdirSync(dir).some((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.0.`)) && Date.now() < quitBy) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    try {
      // The dashboard this run started, should it not have quit.
      process.kill(pid, 'SIGKILL');
    } catch {
      // it quit
    }
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    await echo.close();
  }
  // tsx's loader runs on a worker thread that writes a profile of its own: the main thread's
  // (thread 0 in the file name) is the dashboard's.
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.0.`));
  if (!file) throw new Error(`dashboard-profile: no profile of process ${pid} written in ${dir}`);
  const { self, total, samples } = summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile);
  process.stdout.write(`\n${samples} samples; top self time:\n${top(self, samples, n).join('\n')}\n\ntop total time:\n${top(total, samples, n).join('\n')}\n`);
  if (keep) process.stdout.write(`\nprofile: ${join(dir, file)}\n`);
  else rmSync(dir, { recursive: true, force: true });
}

await main(process.argv.slice(2));
