import { describe, expect, it } from 'vitest';
import { encodeClosePayload, encodeFrame, MessageCompressor } from '../../src/protocol/frame-encoder.js';
import type { Step } from '../../src/gate/actions.js';
import { GateHarness, TestPolicy } from './gate-harness.js';
import { receive, type Received } from './ws-receiver.js';

const KEY = Buffer.from('a1b2c3d4', 'hex');

function text(s: string, from: 'client' | 'server', fin = true, opcode = 1): Buffer {
  return encodeFrame({ opcode, fin, payload: Buffer.from(s), mask: from === 'client' ? KEY : null });
}
function control(opcode: number, s: string, from: 'client' | 'server'): Buffer {
  return encodeFrame({ opcode, payload: Buffer.from(s), mask: from === 'client' ? KEY : null });
}
function close(code: number, from: 'client' | 'server'): Buffer {
  return encodeFrame({ opcode: 8, payload: encodeClosePayload(code, 'bye'), mask: from === 'client' ? KEY : null });
}
function texts(received: readonly Received[]): string[] {
  return received.map((r) =>
    r.kind === 'message' ? `${r.binary ? 'bin' : 'text'}:${r.data.toString()}` : r.kind === 'close' ? `close:${r.code}` : r.kind === 'error' ? `error:${r.code}` : `${r.kind}:${r.data.toString()}`,
  );
}
const user = (kind: Step['kind']): Step => ({ kind, by: 'user' }) as Step;
const by = (kind: Step['kind'], extra: object = {}): Step => ({ kind, by: 'rule', name: 'r', ...extra }) as Step;

/** Every chunking: each cut in two, and one byte at a time. */
function* chunkings(data: Buffer): Generator<Buffer[]> {
  yield [data];
  for (let cut = 1; cut < data.length; cut++) yield [data.subarray(0, cut), data.subarray(cut)];
  yield Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
}

describe('DirectionGate: nothing applies', () => {
  it('passes each chunk as it came, byte for byte and chunk for chunk', async () => {
    const policy = new TestPolicy(() => [], () => null, false);
    const h = new GateHarness({ from: 'client', policy });
    const a = text('one', 'client');
    const b = Buffer.concat([text('two', 'client'), close(1000, 'client')]);
    h.push(a.subarray(0, 3), a.subarray(3), b);
    await h.end();
    expect(h.writes).toEqual([[a.subarray(0, 3)], [a.subarray(3)], [b]]);
    expect(policy.seen).toEqual([]);
    expect(h.drained).toBe(true);
  });

  it('a gate that forwards everything writes the same bytes at every chunking, fragments and control frames included', async () => {
    for (const from of ['client', 'server'] as const) {
      const stream = Buffer.concat([
        text('hel', from, false),
        control(9, 'hb', from),
        text('lo', from, true, 0),
        text('', from),
        encodeFrame({ opcode: 2, payload: Buffer.alloc(300, 7), mask: from === 'client' ? KEY : null }),
        close(1000, from),
      ]);
      for (const chunks of chunkings(stream)) {
        const policy = new TestPolicy();
        const h = new GateHarness({ from, policy });
        h.push(...chunks);
        await h.end();
        // The ping goes ahead of the message it came amid; everything else in order.
        const ping = control(9, 'hb', from);
        const expected = Buffer.concat([ping, text('hel', from, false), text('lo', from, true, 0), stream.subarray(ping.length + text('hel', from, false).length + text('lo', from, true, 0).length)]);
        expect(h.output.equals(expected)).toBe(true);
        expect(h.drained).toBe(true);
        expect(policy.seen.map((v) => [v.index, v.text ?? v.data.length])).toEqual([[0, 'hello'], [1, ''], [2, 300]]);
      }
    }
  });

  it('compressed messages pass as their original bytes at every chunking', async () => {
    const c = new MessageCompressor({ noContextTakeover: false });
    const frames: Buffer[] = [];
    for (const s of ['Hello', 'Hello', 'Hello again']) frames.push(encodeFrame({ opcode: 1, rsv1: true, payload: await c.compress(Buffer.from(s)) }));
    c.close();
    const stream = Buffer.concat(frames);
    for (const chunks of chunkings(stream)) {
      const policy = new TestPolicy();
      const h = new GateHarness({ from: 'server', policy, deflate: { noContextTakeover: false, maxWindowBits: 15 } });
      h.push(...chunks);
      await h.end();
      expect(h.output.equals(stream)).toBe(true);
      expect(policy.seen.map((v) => v.text)).toEqual(['Hello', 'Hello', 'Hello again']);
    }
  });
});

describe('DirectionGate: actions, read back by a ws Receiver', () => {
  it('drops and edits; a client edit is masked with a fresh key', async () => {
    const policy = new TestPolicy((v) =>
      v.index === 1 ? [by('drop')] : v.index === 2 ? [by('edit', { message: { opcode: 1, data: Buffer.from('EDITED') } })] : [],
    );
    const h = new GateHarness({ from: 'client', policy });
    h.push(text('a', 'client'), text('b', 'client'), text('c', 'client'), text('d', 'client'));
    await h.end();
    expect(texts(await receive(h.output, 'client'))).toEqual(['text:a', 'text:EDITED', 'text:d']);
    expect(h.actions()).toEqual(['drop#1 by rule r', 'edit#2 by rule r']);
    expect(h.intercepts[1]!.message).toEqual({ opcode: 1, data: Buffer.from('EDITED') });
    // Unchanged messages are their original bytes (original key); the edit has its own key.
    expect(h.writes[0]).toEqual([text('a', 'client')]);
    const editedHeader = h.writes[1]![0]!;
    expect(editedHeader.subarray(2, 6).equals(KEY)).toBe(false);
    expect(editedHeader[1]! & 0x80).toBe(0x80);
  });

  it('holds: later messages wait, ping and pong go ahead, the close waits; release lets all go in order', async () => {
    const policy = new TestPolicy((v) => (v.index === 0 ? [user('hold')] : []));
    const h = new GateHarness({ from: 'server', policy });
    h.push(text('first', 'server'), text('second', 'server'), control(9, 'p1', 'server'), control(10, 'p2', 'server'), close(1001, 'server'));
    expect(texts(await receive(h.output, 'server'))).toEqual(['ping:p1', 'pong:p2']);
    expect(h.gate.held().map((m) => [m.ref.index, m.view.text])).toEqual([[0, 'first']]);
    expect(h.gate.release(1, null)).toBe(false);
    expect(h.gate.release(0, null)).toBe(true);
    expect(texts(await receive(h.output, 'server'))).toEqual(['ping:p1', 'pong:p2', 'text:first', 'text:second', 'close:1001']);
    expect(h.actions()).toEqual(['hold#0 by user', 'release#0 by user']);
  });

  it('a held message can be edited or dropped by the user; releaseAll lets every held one go', async () => {
    const policy = new TestPolicy(() => [user('hold')]);
    const h = new GateHarness({ from: 'client', policy });
    h.push(text('a', 'client'), text('b', 'client'), text('c', 'client'));
    expect(h.gate.held().length).toBe(3);
    h.gate.release(1, { drop: true });
    h.gate.release(0, { edit: { opcode: 2, data: Buffer.from([1, 2, 3]) } });
    expect(texts(await receive(h.output, 'client'))).toEqual(['bin:\u0001\u0002\u0003']);
    expect(h.gate.releaseAll()).toBe(1);
    expect(texts(await receive(h.output, 'client'))).toEqual(['bin:\u0001\u0002\u0003', 'text:c']);
    expect(h.actions()).toEqual(['hold#0 by user', 'hold#1 by user', 'hold#2 by user', 'edit#0 by user', 'drop#1 by user', 'release#2 by user']);
  });

  it('the hold timeout releases a held message unchanged', async () => {
    const policy = new TestPolicy(() => [by('hold')]);
    const h = new GateHarness({ from: 'server', policy, holdTimeoutMs: 500 });
    h.push(text('x', 'server'));
    h.clock.advance(499);
    expect(h.output.length).toBe(0);
    h.clock.advance(1);
    expect(texts(await receive(h.output, 'server'))).toEqual(['text:x']);
    expect(h.intercepts.at(-1)).toMatchObject({ action: 'release', detail: 'after the hold timeout (500 ms)' });
  });

  it('a hold by a script without a timeout is released after 30 s; a user hold waits', async () => {
    const policy = new TestPolicy((v) => [v.index === 0 ? { kind: 'hold', by: 'script', name: 's.mjs' } : user('hold')]);
    const h = new GateHarness({ from: 'server', policy });
    h.push(text('x', 'server'), text('y', 'server'));
    h.clock.advance(29_999);
    expect(h.output.length).toBe(0);
    h.clock.advance(1);
    expect(texts(await receive(h.output, 'server'))).toEqual(['text:x']);
    h.clock.advance(3_600_000);
    expect(texts(await receive(h.output, 'server'))).toEqual(['text:x']);
    expect(h.gate.held().map((m) => m.ref.index)).toEqual([1]);
  });

  it('delays each message from its arrival, keeping order', async () => {
    const policy = new TestPolicy((v) => [by('delay', { ms: v.index === 0 ? 200 : 50 })]);
    const h = new GateHarness({ from: 'server', policy });
    h.push(text('a', 'server'));
    h.clock.advance(100);
    h.push(text('b', 'server'));
    h.clock.advance(99);
    expect(h.output.length).toBe(0);
    h.clock.advance(1);
    // b was due at 150 but waited behind a: both go at 200.
    expect(texts(await receive(h.output, 'server'))).toEqual(['text:a', 'text:b']);
    h.push(text('c', 'server'));
    h.clock.advance(49);
    expect(h.writes.length).toBe(2);
    h.clock.advance(1);
    expect(h.writes.length).toBe(3);
    expect(h.actions()).toEqual(['delay#0 by rule r', 'delay#1 by rule r', 'delay#2 by rule r']);
  });

  it('duplicate, fragment and corrupt', async () => {
    const steps: Record<number, Step[]> = {
      0: [by('duplicate')],
      1: [by('fragment', { frames: 3 })],
      2: [by('corrupt', { corrupt: 'utf8' })],
    };
    const policy = new TestPolicy((v) => steps[v.index] ?? []);
    const h = new GateHarness({ from: 'client', policy });
    h.push(text('dup', 'client'), text('fragmented', 'client'), text('bad', 'client'));
    await h.end();
    const got = await receive(h.output, 'client');
    expect(texts(got)).toEqual(['text:dup', 'text:dup', 'text:fragmented', 'error:WS_ERR_INVALID_UTF8']);
    expect(h.actions()).toEqual(['duplicate#0 by rule r', 'fragment#1 by rule r', 'corrupt#2 by rule r']);

    const rsv1 = new GateHarness({ from: 'server', policy: new TestPolicy(() => [by('corrupt', { corrupt: 'rsv1' })]) });
    rsv1.push(text('x', 'server'));
    expect(texts(await receive(rsv1.output, 'server'))).toEqual(['error:WS_ERR_UNEXPECTED_RSV_1']);
    const mask = new GateHarness({ from: 'client', policy: new TestPolicy(() => [by('corrupt', { corrupt: 'mask' })]) });
    mask.push(text('x', 'client'));
    expect(texts(await receive(mask.output, 'client'))).toEqual(['error:WS_ERR_EXPECTED_MASK']);
  });

  it('swallows pongs', async () => {
    const policy = new TestPolicy(() => [], (op) => (op === 0xa ? { by: 'fault', name: 'swallow=pong' } : null));
    const h = new GateHarness({ from: 'server', policy });
    h.push(control(9, 'ping', 'server'), control(10, 'pong', 'server'), text('m', 'server'));
    expect(texts(await receive(h.output, 'server'))).toEqual(['ping:ping', 'text:m']);
    expect(h.intercepts).toEqual([{ from: 'server', action: 'swallow', by: 'fault', name: 'swallow=pong', detail: 'pong' }]);
  });

  it('respond answers the sender (the original is dropped); close goes toward the chosen sides; cut after forwarding', async () => {
    const policy = new TestPolicy((v) =>
      v.index === 0
        ? [by('respond', { message: { opcode: 1, data: Buffer.from('pong!') } })]
        : v.index === 1
          ? [by('cut')]
          : [by('close', { code: 4000, reason: 'rule', toward: 'both' })],
    );
    const h = new GateHarness({ from: 'client', policy });
    h.push(text('ping?', 'client'), text('last', 'client'), text('closing', 'client'), text('after close', 'client'));
    await h.end();
    expect(texts(await receive(h.output, 'client'))).toEqual(['text:last', 'close:4000']);
    expect(h.answers.map((a) => a.what)).toEqual([{ message: { opcode: 1, data: Buffer.from('pong!') } }, { close: { code: 4000, reason: 'rule' } }]);
    expect(h.cuts.length).toBe(1);
    expect(h.actions()).toEqual(['respond#0 by rule r', 'close#2 by rule r']);
  });

  it('injects toward the receiver after what waits, and from the pass mode at a boundary', async () => {
    const policy = new TestPolicy(() => [], () => null, false);
    const h = new GateHarness({ from: 'client', policy });
    h.push(text('a', 'client'));
    h.gate.inject({ opcode: 1, data: Buffer.from('injected') }, { kind: 'forward', by: 'user' });
    h.push(text('b', 'client'));
    expect(texts(await receive(h.output, 'client'))).toEqual(['text:a', 'text:injected', 'text:b']);
    expect(h.intercepts).toEqual([{ from: 'client', action: 'inject', by: 'user', message: { opcode: 1, data: Buffer.from('injected') } }]);
    // Nothing applies: back to byte for byte after the injection.
    expect(h.gate.mode).toBe('pass');
  });

  it('starts gating at the next message boundary when something starts to apply mid-message', async () => {
    const policy = new TestPolicy((v) => [by('edit', { message: { opcode: 1, data: Buffer.from(`<${v.text}>`) } })], () => null, false);
    const h = new GateHarness({ from: 'server', policy });
    const first = text('part1', 'server', false);
    h.push(first.subarray(0, 4));
    policy.isActive = true;
    h.gate.refresh();
    expect(h.gate.mode).toBe('draining');
    h.push(first.subarray(4), text('part2', 'server', true, 0), text('next', 'server'));
    await h.end();
    expect(texts(await receive(h.output, 'server'))).toEqual(['text:part1part2', 'text:<next>']);
    expect(policy.seen.map((v) => v.index)).toEqual([1]);
  });

  it('a frame that breaks framing makes the rest pass as it comes', async () => {
    const policy = new TestPolicy(() => [by('drop')]);
    const h = new GateHarness({ from: 'server', policy });
    const bad = encodeFrame({ opcode: 1, rsv2: true, payload: Buffer.from('x') });
    h.push(text('a', 'server'), bad, text('b', 'server'));
    await h.end();
    expect(h.output.equals(Buffer.concat([bad, text('b', 'server')]))).toBe(true);
    expect(h.gate.mode).toBe('broken');
  });
});

describe('DirectionGate: the bound behind a held message', () => {
  it('reads on up to the bound, then applies backpressure; release resumes', async () => {
    const policy = new TestPolicy((v) => (v.index === 0 ? [user('hold')] : []));
    const h = new GateHarness({ from: 'server', policy, limits: { maxBytes: 1000, maxMessages: 3 } });
    h.push(text('held', 'server'), text('1', 'server'), text('2', 'server'));
    expect(h.pauses).toEqual([]);
    h.push(text('3', 'server'));
    expect(h.pauses).toEqual([true]);
    h.gate.release(0, null);
    expect(h.pauses).toEqual([true, false]);
    expect(texts(await receive(h.output, 'server'))).toEqual(['text:held', 'text:1', 'text:2', 'text:3']);
  });

  it('a message larger than the bound with nothing ahead streams through, gating resumes after it', async () => {
    const policy = new TestPolicy((v) => [by('edit', { message: { opcode: 1, data: Buffer.from(`#${v.index}`) } })]);
    const h = new GateHarness({ from: 'client', policy, limits: { maxBytes: 100, maxMessages: 10 } });
    const big = Buffer.concat([text('x'.repeat(60), 'client', false), text('y'.repeat(60), 'client', false, 0), text('z', 'client', true, 0)]);
    h.push(big, text('small', 'client'));
    await h.end();
    expect(texts(await receive(h.output, 'client'))).toEqual([`text:${'x'.repeat(60)}${'y'.repeat(60)}z`, 'text:#1']);
    expect(h.pauses).toEqual([]);
  });
});

describe('DirectionGate: permessage-deflate with context takeover', () => {
  it('a drop starts re-encoding: later messages go uncompressed and inflate right; injected ones uncompressed', async () => {
    const c = new MessageCompressor({ noContextTakeover: false });
    const words = ['alpha alpha alpha', 'beta alpha beta', 'alpha beta gamma', 'gamma gamma alpha', 'delta alpha'];
    const frames: Buffer[] = [];
    for (const w of words) frames.push(encodeFrame({ opcode: 1, rsv1: true, payload: await c.compress(Buffer.from(w)), mask: KEY }));
    c.close();
    const policy = new TestPolicy((v) =>
      v.index === 1 ? [by('drop')] : v.index === 2 ? [by('edit', { message: { opcode: 1, data: Buffer.from('edited') } })] : v.index === 3 ? [by('duplicate')] : [],
    );
    const h = new GateHarness({ from: 'client', policy, deflate: { noContextTakeover: false, maxWindowBits: 15 } });
    h.push(...frames);
    await h.until(() => policy.seen.length === 5, 'five decisions');
    h.gate.inject({ opcode: 1, data: Buffer.from('injected') }, { kind: 'forward', by: 'user' });
    await h.end();
    expect(texts(await receive(h.output, 'client', true))).toEqual([
      'text:alpha alpha alpha',
      'text:edited',
      'text:gamma gamma alpha',
      'text:gamma gamma alpha',
      'text:delta alpha',
      'text:injected',
    ]);
    expect(h.actions()).toEqual(['drop#1 by rule r', 'reencode#1 by rule r', 'edit#2 by rule r', 'duplicate#3 by rule r', 'inject by user']);
    expect(h.gate.reencoding).toBe(true);
    // Re-encoded messages have RSV1 clear.
    expect(h.writes.slice(2).every((parts) => (parts[0]![0]! & 0x40) === 0)).toBe(true);
  });

  it('without context takeover a drop leaves later messages as their original bytes', async () => {
    const c = new MessageCompressor({ noContextTakeover: true });
    const frames: Buffer[] = [];
    for (const w of ['one one', 'two two', 'three three']) frames.push(encodeFrame({ opcode: 1, rsv1: true, payload: await c.compress(Buffer.from(w)) }));
    c.close();
    const policy = new TestPolicy((v) => (v.index === 0 ? [by('drop')] : []));
    const h = new GateHarness({ from: 'server', policy, deflate: { noContextTakeover: true, maxWindowBits: 15 } });
    h.push(...frames);
    await h.end();
    expect(h.output.equals(Buffer.concat(frames.slice(1)))).toBe(true);
    expect(h.gate.reencoding).toBe(false);
  });
});
