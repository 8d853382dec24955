/**
 * `serve`: a mock upstream built from a capture. Every client that connects gets the captured
 * handshake answer (or the captured refusal), then the captured server side, batch by batch as the
 * client's messages arrive (reactive), with the captured spacing inside a batch, and finally the
 * captured close or a 1006 drop.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { compareAnswers, showMessage, type AnswerMessage } from './compare.js';
import { Arrivals, batchGates, runSchedule, type Clock } from './pacing.js';
import { answersOf, type ConnScript, type Step } from './script.js';
import { deflateOptions, playStep } from './send-steps.js';
import { listenOn } from '../proxy/listen.js';

export interface MockServerOptions {
  readonly script: ConnScript;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly clock: Clock;
  /** One line: a client message that differs from the captured one, or a step that could not be played. */
  readonly onNote: (line: string) => void;
}

export interface MockServer {
  readonly host: string;
  readonly port: number;
  /** Connections played so far. */
  readonly served: number;
  close(): Promise<void>;
}

/** Response headers `ws` writes itself; the other captured ones are sent again. */
const OWN_HEADERS = new Set(['upgrade', 'connection', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions']);
/** Headers that describe a body the capture does not have. */
const BODY_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection']);

export async function startMockServer(options: MockServerOptions): Promise<MockServer> {
  const { script } = options;
  const sockets = new Set<Duplex>();
  const players = new Set<WebSocket>();
  let served = 0;
  let client = 0;

  const server = http.createServer((_req, res) => {
    // A mock of a WebSocket endpoint has no pages: plain HTTP gets 404.
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('frametap serve: only WebSocket upgrades are served\n');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: deflateOptions(script.extensions),
    // RFC 6455 §4.2.2: the server picks one of the offered subprotocols; the captured one when offered.
    handleProtocols: (offered) => (script.protocol !== null && offered.has(script.protocol) ? script.protocol : false),
  });
  wss.on('headers', (headers) => {
    for (const [name, value] of script.response?.headers ?? []) {
      if (!OWN_HEADERS.has(name.toLowerCase())) headers.push(`${name}: ${value}`);
    }
  });

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined);
    if (!script.upgraded || !script.response) {
      refuse(socket, script);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      served++;
      const id = ++client;
      players.add(ws);
      ws.once('close', () => players.delete(ws));
      void play(ws, id, options).catch((error: unknown) => {
        options.onNote(`client ${id}: playing the capture failed: ${error instanceof Error ? error.message : String(error)}`);
        ws.terminate();
      });
    });
  });

  const address = await listenOn(server, { host: options.host, port: options.port });

  return {
    host: options.host,
    port: address.port,
    get served() {
      return served;
    },
    close: async () => {
      for (const ws of players) ws.terminate();
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Plays a captured refusal (any status but 101), or a silent hang-up when the upstream never answered. */
function refuse(socket: Duplex, script: ConnScript): void {
  const r = script.response;
  if (!r) {
    socket.destroy();
    return;
  }
  const lines = [`HTTP/1.1 ${r.status} ${r.reason}`];
  for (const [name, value] of r.headers) if (!BODY_HEADERS.has(name.toLowerCase())) lines.push(`${name}: ${value}`);
  lines.push('Content-Length: 0', 'Connection: close');
  socket.end(`${lines.join('\r\n')}\r\n\r\n`);
}

async function play(ws: WebSocket, client: number, options: MockServerOptions): Promise<void> {
  const { script, clock } = options;
  ws.binaryType = 'nodebuffer';
  const expected = answersOf(script.client);
  const arrivals = new Arrivals(clock);
  const gone = new AbortController();
  ws.on('error', () => undefined);
  ws.on('close', () => {
    arrivals.close();
    gone.abort();
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const index = arrivals.count;
    const now: AnswerMessage = { opcode: isBinary ? 2 : 1, data, length: data.length };
    const was = expected[index] ?? null;
    if (was === null) {
      options.onNote(`client ${client}: message #${index + 1} was not in the capture: ${showMessage(now)}`);
    } else if (compareAnswers({ messages: [was], closeCode: null }, { messages: [now], closeCode: null }).length > 0) {
      options.onNote(
        `client ${client}: message #${index + 1} differs from the capture: captured ${oneLine(showMessage(was))}, now ${oneLine(showMessage(now))}`,
      );
    }
    arrivals.arrived();
  });
  const steps = script.server;
  await runSchedule<Step>({
    steps,
    gates: batchGates(steps),
    other: arrivals,
    // The client drives a mock server: its waits are bounded by the client, not by a timeout.
    timeoutMs: 2 ** 31 - 1,
    startedAt: clock.now(),
    signal: gone.signal,
    run: (step) => playStep(ws, step, (line) => options.onNote(`client ${client}: ${line}`)),
  });
}

function oneLine(s: string): string {
  const flat = s.replace(/\s*\n\s*/g, ' ');
  return flat.length > 200 ? `${flat.slice(0, 200)} …` : flat;
}
