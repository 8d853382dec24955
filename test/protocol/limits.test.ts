/**
 * Limits count items as well as bytes: a message of too many fragments stops inspection of that
 * direction with a named failure (the relay is not the decoder's to stop), and the kept bytes of a
 * many-fragment message are one object, not one view per fragment.
 */
import { describe, expect, it } from 'vitest';
import { DirectionInspector } from '../../src/protocol/direction-inspector.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';
import type { WireEvent } from '../../src/protocol/wire-events.js';
import { EventBus } from '../../src/session/event-bus.js';
import { Session } from '../../src/session/session.js';
import { computeAccept } from '../../src/protocol/handshake.js';
import { cap, type CapturedEvent } from '../helpers/captured.js';

const MASK = Buffer.from([1, 2, 3, 4]);

function fragments(n: number, finish: boolean): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    frames.push(encodeFrame({ opcode: i === 0 ? 1 : 0, fin: finish && i === n - 1, mask: MASK, payload: Buffer.from([0x61 + (i % 26)]) }));
  }
  return Buffer.concat(frames);
}

describe('fragments per message', () => {
  it('a message of more fragments than the limit stops inspection of the direction once, naming the limit', () => {
    const events: WireEvent[] = [];
    const failures: unknown[] = [];
    const inspector = new DirectionInspector({ from: 'client', maxPayload: 1 << 20, deflate: null, maxFragments: 1000, onEvent: (e) => events.push(e), onFailure: (e) => failures.push(e) });
    const bytes = fragments(1500, true);
    // Fed in pieces, as TCP would.
    for (let at = 0; at < bytes.length; at += 977) inspector.push(bytes.subarray(at, at + 977), at);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'FRAGMENT_LIMIT' });
    expect(String((failures[0] as Error).message)).toMatch(/more than 1000 fragments/);
    expect(inspector.stopped).toBe(true);
    expect(events.filter((e) => e.kind === 'message')).toHaveLength(0);
    // No more events once stopped.
    const count = events.length;
    inspector.push(fragments(2, true), 1e9);
    expect(events.length).toBe(count);
  });

  it('below the limit, a many-fragment message is reassembled exactly into one buffer', () => {
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'client', maxPayload: 1 << 20, deflate: null, maxFragments: 5000, onEvent: (e) => events.push(e) });
    inspector.push(fragments(4000, true), 1);
    const message = events.find((e) => e.kind === 'message');
    expect(message).toMatchObject({ frames: 4000, length: 4000, truncated: false });
    const data = (message as { data: Buffer }).data;
    expect(data.toString()).toBe(Array.from({ length: 4000 }, (_, i) => String.fromCharCode(0x61 + (i % 26))).join(''));
  });

  it('the session publishes the limit as an error event of the connection and direction; the other direction goes on', () => {
    const bus = new EventBus();
    const events: CapturedEvent[] = [];
    bus.subscribe('t', (e) => events.push(cap(e)));
    const session = new Session({ conn: 4, bus, maxPayload: 1024 });
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    session.handshake({
      request: { method: 'GET', target: '/', httpVersion: '1.1', headers: [['Sec-WebSocket-Key', key]] },
      response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Accept', computeAccept(key)]] },
    });
    session.push('client', fragments(100_001 + 5, false), 10);
    session.push('server', encodeFrame({ opcode: 1, payload: Buffer.from('still inspected') }), 11);
    const error = events.find((e) => e.type === 'error');
    expect(error).toMatchObject({ conn: 4, from: 'client', stage: 'relay', code: 'FRAGMENT_LIMIT' });
    expect(events.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(events.find((e) => e.type === 'message')).toMatchObject({ from: 'server', text: 'still inspected' });
  });
});
