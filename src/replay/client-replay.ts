/**
 * `replay`: plays the captured client side of one connection against a server with a real `ws`
 * client, paced, and collects what the server answers for `--check`.
 */
import { WebSocket } from 'ws';
import type { Answers, AnswerMessage } from './compare.js';
import { Arrivals, PaceTimeout, clientGates, runSchedule, type Clock, type Pace } from './pacing.js';
import type { ConnScript, Step } from './script.js';
import { isValidCloseCode } from '../protocol/validation.js';
import { deflateOptions, headersToResend, offeredProtocols, playStep } from './send-steps.js';

export interface ClientReplayOptions {
  readonly script: ConnScript;
  /** ws:// URL to connect to, with the captured path and query. */
  readonly url: string;
  readonly pace: Pace;
  /** Bounds the connect and every wait. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** A client message was sent (for the progress line). */
  readonly onSent?: () => void;
  readonly onWarning?: (line: string) => void;
  /** Stops the replay early (SIGINT). */
  readonly signal?: AbortSignal;
}

/** Why a replay could not run (exit status 3), or how the handshake was refused. */
export type ReplayFailure =
  | { readonly kind: 'connect'; readonly detail: string }
  | { readonly kind: 'status'; readonly status: number; readonly detail: string }
  | { readonly kind: 'timeout'; readonly detail: string };

export interface ClientReplayResult {
  readonly conn: number;
  /** Null when the handshake did not upgrade. */
  readonly answers: Answers | null;
  /** The status the server answered the upgrade with (101 on success). */
  readonly status: number | null;
  readonly sent: number;
  /**
   * Client messages sent before the server messages that preceded them in the capture had arrived:
   * the pace changed the order the server saw, the likely cause of differences in its answers.
   */
  readonly outOfOrder: number;
  readonly failure: ReplayFailure | null;
}

/** Replays one connection; never throws for a peer's behaviour, the result says what happened. */
export async function replayConnection(options: ClientReplayOptions): Promise<ClientReplayResult> {
  const { script, timeoutMs, clock } = options;
  if (options.signal?.aborted) return { conn: script.conn, answers: null, status: null, sent: 0, outOfOrder: 0, failure: null };
  const warn = options.onWarning ?? (() => undefined);
  const requestHeaders = script.request?.headers ?? [];
  const { headers, redacted } = headersToResend(requestHeaders);
  if (redacted.length > 0) warn(`conn ${script.conn}: header ${redacted.join(', ')} was redacted in the capture and is not sent`);
  if (script.truncated.client > 0) {
    warn(`conn ${script.conn}: ${script.truncated.client} client message(s) were cut by --max-payload in the capture; only the kept bytes are sent`);
  }

  const ws = new WebSocket(options.url, offeredProtocols(requestHeaders), {
    headers,
    perMessageDeflate: deflateOptions(script.extensions),
    handshakeTimeout: timeoutMs,
    followRedirects: false,
  });
  ws.binaryType = 'nodebuffer';

  const messages: AnswerMessage[] = [];
  const server = new Arrivals(clock);
  const gone = new AbortController();
  let sent = 0;
  let outOfOrder = 0;
  let closeSentFirst: number | null | undefined;
  let peerCloseCode: number | null = null;
  let status: number | null = null;

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    messages.push({ opcode: isBinary ? 2 : 1, data, length: data.length });
    server.arrived();
  });
  const closed = new Promise<void>((resolve) => {
    ws.on('close', (code: number) => {
      peerCloseCode = code;
      server.close();
      gone.abort();
      resolve();
    });
  });

  const opened = await new Promise<ReplayFailure | null>((resolve) => {
    ws.once('upgrade', (res) => {
      status = res.statusCode ?? null;
    });
    ws.once('open', () => resolve(null));
    ws.once('unexpected-response', (_req, res) => {
      status = res.statusCode ?? 0;
      res.resume();
      resolve({ kind: 'status', status, detail: `the server answered the upgrade with ${status} ${res.statusMessage ?? ''}`.trim() });
      ws.terminate();
    });
    ws.once('error', (error: NodeJS.ErrnoException) => {
      const detail = /handshake has timed out/.test(error.message)
        ? `no answer to the upgrade within ${timeoutMs / 1000} s`
        : `${error.code ? `${error.code}: ` : ''}${error.message}`;
      resolve({ kind: 'connect', detail });
    });
  });
  // Later socket errors end the connection ('close' follows); they are not the replay's failure.
  ws.on('error', () => undefined);
  if (opened) {
    ws.terminate();
    await Promise.race([closed, clock.sleep(timeoutMs, gone.signal)]);
    return { conn: script.conn, answers: null, status, sent: 0, outOfOrder: 0, failure: opened };
  }

  const reportLate = (error: unknown, then: 'close' | 'drop'): void => {
    if (!(error instanceof PaceTimeout)) throw error;
    warn(
      `conn ${script.conn}: server message #${error.awaited} did not arrive within ${timeoutMs / 1000} s (--timeout); ${then === 'close' ? 'closing' : 'dropping the connection'} anyway`,
    );
  };
  // An interrupt (SIGINT) ends the connection at once, which also ends any wait on the server.
  options.signal?.addEventListener('abort', () => ws.terminate(), { once: true });
  const startedAt = clock.now();
  const steps = script.client;
  const stop = AbortSignal.any([gone.signal, ...(options.signal ? [options.signal] : [])]);
  let failure: ReplayFailure | null = null;
  try {
    await runSchedule<Step>({
      steps,
      gates: clientGates(steps, options.pace),
      other: server,
      timeoutMs,
      startedAt,
      signal: stop,
      run: async (step) => {
        if (step.kind === 'close' || step.kind === 'drop') {
          // The close waits for the answers that preceded it in the capture (at any pace), so
          // the server is not cut off before it could answer; a missing answer is --check's to report.
          await server.waitFor(step.before, timeoutMs).catch((error: unknown) => reportLate(error, step.kind));
          if (stop.aborted) return;
          if (step.kind === 'close' && closeSentFirst === undefined) {
            closeSentFirst = step.code !== null && isValidCloseCode(step.code) ? step.code : null;
          }
        }
        if (step.kind === 'message' && server.count < step.before && !server.closed) outOfOrder++;
        playStep(ws, step, warn);
        if (step.kind === 'message') {
          sent++;
          options.onSent?.();
        }
      },
    });
  } catch (error) {
    if (!(error instanceof PaceTimeout)) throw error;
    failure = {
      kind: 'timeout',
      detail: `waited ${error.timeoutMs / 1000} s (--timeout) for server message #${error.awaited}; ${error.arrived} arrived`,
    };
  }

  if (ws.readyState === WebSocket.OPEN && failure === null && !options.signal?.aborted) {
    // The client's steps are done; the capture says what the server did next: its remaining
    // messages, then (when it closed first) its close, which the replay waits for (--timeout)
    // instead of closing itself. Without a close in the capture (a HAR) the replay closes normally.
    const serverClose = script.server.find((s) => s.kind === 'close');
    const answered = await server.waitFor(countMessages(script.server), timeoutMs).then(
      () => true,
      (error: unknown) => {
        reportLate(error, 'close');
        return false;
      },
    );
    if (answered && serverClose?.kind === 'close' && ws.readyState === WebSocket.OPEN) {
      await Promise.race([closed, clock.sleep(timeoutMs, stop)]);
      if (ws.readyState === WebSocket.OPEN && !options.signal?.aborted) {
        warn(
          `conn ${script.conn}: the server did not close within ${timeoutMs / 1000} s (--timeout) as it did in the capture (${serverClose.code ?? 'no code'}); closing`,
        );
      }
    }
    if (ws.readyState === WebSocket.OPEN && !options.signal?.aborted) {
      closeSentFirst = 1000;
      ws.close(1000);
    }
  }
  if (failure !== null || options.signal?.aborted) ws.terminate();
  // ws ends the TCP connection itself 30 s after an unanswered close; --timeout bounds it here.
  await Promise.race([closed, clock.sleep(timeoutMs, gone.signal)]);
  if (ws.readyState !== WebSocket.CLOSED) {
    ws.terminate();
    await closed;
  }
  // The end's code as the capture counts it: the first close frame's code (1005 for an empty body),
  // 1006 when there was no close frame (RFC 6455 §7.1.5, §7.4.1).
  const closeCode =
    closeSentFirst !== undefined ? (closeSentFirst ?? 1005) : peerCloseCode === null ? 1006 : peerCloseCode;
  return { conn: script.conn, answers: { messages, closeCode }, status, sent, outOfOrder, failure };
}

function countMessages(steps: readonly Step[]): number {
  let n = 0;
  for (const s of steps) if (s.kind === 'message') n++;
  return n;
}
