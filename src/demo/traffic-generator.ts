/**
 * The demo's built-in clients: real `ws` clients through the proxy, in scenarios that together show
 * every kind of thing the dashboard can: JSON chat, binary, a fragmented message, permessage-deflate,
 * pings and pongs, a violation, and connections closing with 1000, 1001, 4000-range codes and abruptly.
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

export interface TrafficGenerator {
  stop(): Promise<void>;
}

type Scenario = 'chat' | 'brief' | 'fragments' | 'misbehave' | 'going-away' | 'expire' | 'abrupt';

/** The first round starts every scenario at once, so each kind shows within seconds. */
const FIRST_ROUND: readonly Scenario[] = ['chat', 'brief', 'fragments', 'misbehave', 'going-away', 'expire', 'abrupt'];
const MAX_OPEN = 9;

export function startTrafficGenerator(proxyUrl: string): TrafficGenerator {
  const base = proxyUrl.replace(/^http/, 'ws');
  const open = new Set<WebSocket>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let user = 0;

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };

  const connect = (path: string, protocols?: string[], deflate = true): WebSocket => {
    const ws = new WebSocket(`${base}${path}`, protocols, { perMessageDeflate: deflate ? { threshold: 0 } : false });
    open.add(ws);
    ws.on('error', () => {});
    ws.on('close', () => open.delete(ws));
    return ws;
  };

  const run = (scenario: Scenario): void => {
    if (stopped || open.size >= MAX_OPEN) return;
    const name = `user${++user}`;
    switch (scenario) {
      case 'chat': {
        const ws = connect(`/chat?user=${name}&room=lobby`, ['chat.v1']);
        let id = 0;
        const tick = (): void => {
          if (ws.readyState !== WebSocket.OPEN) return;
          id++;
          ws.send(JSON.stringify({ type: 'chat', id, from: name, text: CHAT_LINES[id % CHAT_LINES.length] }), { compress: id % 3 === 0 });
          if (id % 5 === 0) ws.send(randomBytes(32), { binary: true, compress: false });
          if (id % 7 === 0) ws.ping(Buffer.from(`client-${id}`));
          if (id < 40) later(250 + Math.random() * 250, tick);
          else ws.close(1000, 'bye');
        };
        ws.on('open', () => later(100, tick));
        break;
      }
      case 'brief': {
        // A short visit that ends with a clean 1000 Normal Closure from the client.
        const ws = connect(`/chat?user=${name}&room=lobby`, ['chat.v1']);
        ws.on('open', () => {
          ws.send(JSON.stringify({ type: 'chat', id: 1, from: name, text: 'just passing by' }));
          later(1200, () => ws.readyState === WebSocket.OPEN && ws.close(1000, 'bye'));
        });
        break;
      }
      case 'fragments': {
        const ws = connect(`/echo?user=${name}`, undefined, false);
        ws.on('open', () => {
          // One text message in three frames (RFC 6455 §5.4), and a small one after it.
          ws.send('{"type":"upload","part":1,', { fin: false });
          ws.send('"data":"' + 'abcdef'.repeat(10) + '",', { fin: false });
          ws.send('"done":true}', { fin: true });
          later(600, () => ws.send('{"type":"note","text":"after the fragmented one"}'));
          later(2000, () => ws.close(4000, 'client done'));
        });
        break;
      }
      case 'misbehave': {
        const ws = connect(`/misbehave?user=${name}`);
        ws.on('open', () => {
          ws.send('{"type":"hello"}');
          later(400, () => ws.readyState === WebSocket.OPEN && ws.send('{"type":"still here"}'));
        });
        break;
      }
      case 'going-away': {
        const ws = connect(`/going-away?user=${name}`);
        ws.on('open', () => ws.send('{"type":"subscribe","topic":"prices"}'));
        break;
      }
      case 'expire':
        connect(`/expire?user=${name}`);
        break;
      case 'abrupt': {
        const ws = connect(`/echo?user=${name}&mode=abrupt`, undefined, false);
        ws.on('open', () => {
          ws.send('{"type":"hello","note":"this client will vanish without a close frame"}');
          // Drops TCP with no close frame: the connection ends 1006 Abnormal Closure (RFC 6455 §7.1.5).
          later(1500, () => ws.terminate());
        });
        break;
      }
    }
  };

  for (const s of FIRST_ROUND) run(s);
  let round = 0;
  const cycle = (): void => {
    round++;
    run('chat');
    run(FIRST_ROUND[round % FIRST_ROUND.length]!);
    later(3000, cycle);
  };
  later(3000, cycle);

  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all(
        [...open].map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve();
              ws.once('close', () => resolve());
              if (ws.readyState === WebSocket.OPEN) ws.close(1001, 'demo stopping');
              else ws.terminate();
              setTimeout(() => {
                ws.terminate();
                resolve();
              }, 300).unref();
            }),
        ),
      );
    },
  };
}

const CHAT_LINES = [
  'hello everyone',
  'is the deploy done?',
  'yes, rolled out at 10:02',
  'p95 latency looks fine',
  'anyone seen the websocket reconnect storm?',
  'that was the load balancer idle timeout',
  'fixed with a 30 s ping',
  'thanks!',
];
