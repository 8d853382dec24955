/**
 * Real peers and captures for the replay/serve tests: an app server on 127.0.0.1:0, a capture of a
 * conversation recorded through the real proxy into a real JsonlWriter, and the CLI spawned.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { JsonlWriter } from '../../src/capture/jsonl-writer.js';
import { readCaptured } from '../helpers/captured.js';
import { startProxy } from '../../src/proxy/server.js';
import { EventBus } from '../../src/session/event-bus.js';
import type { CapturedEvent, CapturedFrame, CapturedMessage } from '../../src/capture/capture-object.js';
import { deferred, withTimeout } from '../helpers/deferred.js';

export interface AppServer {
  readonly url: string;
  /** Messages the server received, per connection, in order. */
  readonly received: Array<Array<{ readonly data: Buffer; readonly isBinary: boolean }>>;
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * A small app: greets with a JSON welcome, answers text with JSON and binary with the bytes
 * reversed, closes with 4000 when told "bye-from-server" (with 4001, 50 ms later, when told
 * "close-later") and drops the TCP connection on "drop-me". `volatile` adds a `ts` that differs
 * on every run (the field `--ignore $.ts` is for).
 */
export async function startAppServer(options: { readonly volatile?: boolean; readonly deflate?: boolean } = {}): Promise<AppServer> {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, perMessageDeflate: options.deflate === false ? false : { threshold: 0 } });
  const received: AppServer['received'] = [];
  let stamp = 0;
  const ts = (): object => (options.volatile ? { ts: Date.now() + ++stamp * 7919 } : {});
  wss.on('connection', (ws) => {
    const mine: Array<{ data: Buffer; isBinary: boolean }> = [];
    received.push(mine);
    ws.on('error', () => undefined);
    ws.send(JSON.stringify({ type: 'welcome', ...ts() }));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      mine.push({ data, isBinary });
      if (isBinary) {
        ws.send(Buffer.from(data).reverse(), { binary: true });
      } else if (data.toString() === 'bye-from-server') {
        ws.close(4000, 'server says bye');
      } else if (data.toString() === 'close-later') {
        // A server that finishes some work first, then closes with its own code: the replay must
        // wait for this close, not close first.
        setTimeout(() => ws.close(4001, 'done later'), 50);
      } else if (data.toString() === 'drop-me') {
        ws.terminate();
      } else {
        ws.send(JSON.stringify({ type: 'echo', text: data.toString(), n: mine.length, ...ts() }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    received,
    get connections() {
      return received.length;
    },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A server speaking socket.io's text framing over a real `ws` server (Engine.IO v4 packets:
 * `0` open, `4` message; Socket.IO packets inside: `0` connect, `1` disconnect, `2` event), with
 * fresh session ids on every connection, as socket.io has. Events are answered asynchronously (as
 * a handler that looks something up does), and a namespace disconnect (`41`) drops the answers not
 * sent yet: a client that does not wait for answers gets fewer of them.
 */
export async function startSocketIoLikeServer(): Promise<AppServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const received: AppServer['received'] = [];
  const id = (): string => randomBytes(9).toString('base64url');
  wss.on('connection', (ws) => {
    const mine: Array<{ data: Buffer; isBinary: boolean }> = [];
    received.push(mine);
    let connected = false;
    ws.on('error', () => undefined);
    ws.send(`0${JSON.stringify({ sid: id(), upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 })}`);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      mine.push({ data, isBinary });
      const text = data.toString();
      if (text === '40') {
        connected = true;
        ws.send(`40${JSON.stringify({ sid: id() })}`);
      } else if (text === '41') {
        connected = false;
      } else if (text.startsWith('42') && connected) {
        const [event, arg] = JSON.parse(text.slice(2)) as [string, unknown];
        setTimeout(() => {
          if (connected && ws.readyState === ws.OPEN) ws.send(`42${JSON.stringify([`${event}-ok`, { id: id(), arg }])}`);
        }, 30);
      }
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    received,
    get connections() {
      return received.length;
    },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** A socket.io client's conversation: connect, two events each awaited, disconnect, close. */
export async function socketIoConversation(url: string): Promise<void> {
  const c = new ScenarioClient(url, { perMessageDeflate: false });
  await c.opened();
  await c.received(1);
  c.ws.send('40');
  await c.received(2);
  c.ws.send('42["join",{"room":"lobby"}]');
  await c.received(3);
  c.ws.send('42["say","hello"]');
  await c.received(4);
  c.ws.send('41');
  c.ws.close(1000);
  await withTimeout(c.closed.promise, 'close');
}

/** A `ws` client that records what it gets and lets a scenario await the n-th message. */
export class ScenarioClient {
  readonly ws: WebSocket;
  readonly messages: Array<{ readonly data: Buffer; readonly isBinary: boolean }> = [];
  readonly closed = deferred<{ code: number; reason: string }>();
  #waiters: Array<{ readonly n: number; readonly wake: () => void }> = [];

  constructor(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}, protocols: string[] = []) {
    this.ws = new WebSocket(url, protocols, { perMessageDeflate: { threshold: 0 }, ...options });
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.messages.push({ data, isBinary });
      const ready = this.#waiters.filter((w) => w.n <= this.messages.length);
      this.#waiters = this.#waiters.filter((w) => w.n > this.messages.length);
      for (const w of ready) w.wake();
    });
    this.ws.on('close', (code: number, reason: Buffer) => this.closed.resolve({ code, reason: reason.toString() }));
  }

  opened(): Promise<void> {
    const d = deferred<void>();
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    this.ws.once('open', () => d.resolve());
    this.ws.once('error', (e) => d.reject(e));
    return withTimeout(d.promise, 'client open');
  }

  /** Resolves once `n` messages arrived. */
  received(n: number): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    const d = deferred<void>();
    this.#waiters.push({ n, wake: () => d.resolve() });
    return withTimeout(d.promise, `message #${n}`);
  }
}

/**
 * The conversation the tests capture: plain, fragmented, compressed, compressed-and-fragmented and
 * binary messages, a ping, and the client's close. Each step waits for the server's answer.
 */
export async function conversation(url: string): Promise<void> {
  const c = new ScenarioClient(url, {}, ['chat', 'superchat']);
  await c.opened();
  await c.received(1);
  c.ws.send('hello', { compress: false });
  await c.received(2);
  c.ws.send('frag-', { fin: false, compress: false });
  c.ws.send('men', { fin: false, compress: false });
  c.ws.send('ted', { fin: true, compress: false });
  await c.received(3);
  c.ws.send(Buffer.from([1, 2, 3, 4, 5, 250]), { binary: true, compress: true });
  await c.received(4);
  c.ws.ping(Buffer.from('are you there'));
  c.ws.send('{"a":', { fin: false, compress: true });
  c.ws.send('[1,2,3]}', { fin: true, compress: true });
  await c.received(5);
  c.ws.close(1000, 'bye');
  await withTimeout(c.closed.promise, 'close');
}

/** Records `scenario` through the real proxy into a capture file (mode "reverse"). */
export async function recordCapture(file: string, upstream: string, scenario: (proxyUrl: string) => Promise<void>): Promise<void> {
  const bus = new EventBus();
  const writer = JsonlWriter.create(file, {
    type: 'capture',
    format: 'frametap-capture',
    version: 1,
    started: new Date().toISOString(),
    tool: { name: 'frametap', version: '0.1.0' },
    mode: 'reverse',
    listen: null,
    upstream,
  });
  const ends = new Set<number>();
  const opens = new Set<number>();
  const allEnded = deferred<void>();
  bus.subscribe('test writer', (e) => {
    writer.write(e);
    if (e.type === 'open') opens.add(e.conn);
    if (e.type === 'end') ends.add(e.conn);
    if (opens.size > 0 && ends.size === opens.size) allEnded.resolve();
  });
  const proxy = await startProxy({
    upstream: new URL(upstream),
    listen: { host: '127.0.0.1', port: 0 },
    bus,
    maxPayload: 1024 * 1024,
    insecure: false,
    keepHost: false,
    headers: [],
    redact: [],
  });
  try {
    await scenario(`ws://127.0.0.1:${proxy.port}/chat?room=1`);
    await withTimeout(allEnded.promise, 'every captured connection to end');
  } finally {
    await proxy.stop();
    await writer.close();
  }
}

export async function eventsOf(file: string): Promise<CapturedEvent[]> {
  return (await readCaptured(file)).events;
}

/** What "the same messages" means for a replay: content, frame count, compression, in order. */
export function messageShape(events: readonly CapturedEvent[], from: 'client' | 'server'): string[] {
  return events
    .filter((e): e is CapturedMessage => e.type === 'message' && e.from === from)
    .map((m) => `${m.opcode}|${m.frames}|${m.compressed}|${m.text ?? m.data}`);
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a subcommand in this process, as `frametap` would (same `run(argv)` and the same error to
 * exit-status mapping), with stdout and stderr collected: the real command on real sockets, without
 * paying a Node start per test. Spawned runs (`runCli`) cover the process-level behaviour.
 */
export async function runInProcess(args: readonly string[], watch: { readonly onStdout?: (text: string) => void } = {}): Promise<CliResult> {
  const [command, ...rest] = args;
  const modules: Record<string, () => Promise<{ run(argv: readonly string[]): Promise<number> }>> = {
    replay: () => import('../../src/cli/commands/replay.js'),
    export: () => import('../../src/cli/commands/export.js'),
    view: () => import('../../src/cli/commands/view.js'),
    // Only for arguments they reject before listening: a served mock or a proxy waits for a signal.
    serve: () => import('../../src/cli/commands/serve.js'),
    proxy: () => import('../../src/cli/commands/proxy.js'),
  };
  const load = modules[command ?? ''];
  if (!load) throw new Error(`runInProcess: no command ${command}`);
  const mod = await load();
  const { reportError } = await import('../../src/cli/main.js');
  let stdout = '';
  let stderr = '';
  const realOut = process.stdout.write.bind(process.stdout);
  const realErr = process.stderr.write.bind(process.stderr);
  const grab =
    (into: (s: string) => void) =>
    (chunk: string | Uint8Array, ...more: unknown[]): boolean => {
      into(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      const cb = more.find((m): m is () => void => typeof m === 'function');
      cb?.();
      return true;
    };
  process.stdout.write = grab((x) => {
    stdout += x;
    watch.onStdout?.(x);
  }) as typeof process.stdout.write;
  process.stderr.write = grab((x) => (stderr += x)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await mod.run(rest);
  } catch (error) {
    code = reportError(error);
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  return { code, stdout, stderr };
}

const BIN = fileURLToPath(new URL('../../bin/frametap.js', import.meta.url));

/** Spawns `node bin/frametap.js ...args` and resolves when it exits (killed after `ms`). */
export function runCli(args: readonly string[], ms = 20_000): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return withTimeout(done, `frametap ${args.join(' ')}`, ms).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
}

/** A CLI process kept running (serve): its stderr lines, and a way to stop it. */
export interface RunningCli {
  readonly stderrText: () => string;
  waitForStderr(pattern: RegExp): Promise<RegExpExecArray>;
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
}

export function startCli(args: readonly string[]): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of watchers) w();
  });
  const done = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return {
    stderrText: () => stderr,
    waitForStderr: (pattern) => {
      const d = deferred<RegExpExecArray>();
      const check = (): void => {
        const m = pattern.exec(stderr);
        if (m) d.resolve(m);
      };
      watchers.push(check);
      check();
      void done.then(() => d.reject(new Error(`frametap exited before printing ${pattern}: ${stderr}`)));
      return withTimeout(d.promise, `stderr ${pattern}`, 10_000);
    },
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return withTimeout(done, 'frametap to exit', 10_000).catch((error: unknown) => {
        child.kill('SIGKILL');
        throw error;
      });
    },
  };
}
