/** Rows read back from the capture after eviction show what they showed before, and view's rates. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonlWriter } from '../../src/capture/jsonl-writer.js';
import { readEventAt } from '../../src/capture/jsonl-reader.js';
import { EventBus } from '../../src/session/event-bus.js';
import type { CaptureHeader, SessionEvent } from '../../src/session/events.js';
import { formatRow } from '../../ui/panes/frame-log.js';
import { DashboardStore, DEFAULT_FILTER, type Row } from '../../ui/store.js';
import { findRow } from '../../ui/search.js';
import { SpillFile } from '../../src/capture/spill-file.js';
import { binary, exchange, handshake, open, T0, text } from './events.js';

describe('read-back after eviction', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('a whole-message frame read back keeps its preview (the capture keeps the payload on the message)', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-readback-'));
    const file = path.join(dir, 'c.jsonl');
    const header: CaptureHeader = { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T0).toISOString(), tool: { name: 'frametap', version: '0' }, mode: 'reverse', listen: null, upstream: null };
    const writer = JsonlWriter.create(file, header);
    const bus = new EventBus();
    let notify: () => void = () => {};
    const store = new DashboardStore({ maxRows: 50, readBack: (o, l) => readEventAt(file, o, l), onChange: () => notify() });
    writer.onLine((e, o, l) => store.located(e, o, l));
    bus.subscribe('writer', (e) => writer.write(e));
    bus.subscribe('store', (e) => store.ingest(e));
    bus.publish(open(1));
    bus.publish(handshake(1));
    for (let i = 0; i < 200; i++) for (const e of exchange(1, 'client', `message number ${i}`)) bus.publish(e);
    await writer.close();

    const frames = store.connections.get(1)!.logs.frames;
    expect(frames.firstRetained).toBeGreaterThan(0);
    expect(store.row(frames, 0)).toEqual({ index: 0, pending: true });
    await new Promise<void>((resolve) => (notify = resolve));
    const back = store.row(frames, 0) as Row;
    expect(back.event).toMatchObject({ type: 'frame', opcode: 1 });
    expect(formatRow(back.event, 120, back.message, back.wireLength)).toContain('message number 0');
    expect(formatRow(back.event, 120, back.message)).not.toContain('(payload in message)');
  });
});

describe('rates', () => {
  it('a recorded capture\'s rates come from its own times, and a HAR\'s message bytes count', () => {
    let store: DashboardStore;
    // Read at any speed (here: all at once), the rate is the capture's: 2 messages a second.
    store = new DashboardStore({ now: () => store.lastT });
    const events: SessionEvent[] = [open(1)];
    for (let i = 0; i < 20; i++) events.push({ ...text(1, 'client', 'x'.repeat(10)), t: T0 + i * 500 });
    for (const e of events) store.ingest(e);
    expect(store.rates().messages).toBeCloseTo(2, 5);
    // Recorded without frames (a HAR): 10 bytes a message, 20 B/s.
    expect(store.totalBytes).toBe(200);
    expect(store.rates().bytes).toBeCloseTo(20, 5);
  });
});

describe('read-back and search from the spill file (live without -w)', () => {
  it('evicted rows come back and are found by search, bytes intact', async () => {
    const spill = SpillFile.open({ wanted: (e) => e.type !== 'error' || e.conn !== undefined });
    try {
      const bus = new EventBus();
      let notify: () => void = () => {};
      const store = new DashboardStore({ maxRows: 50, readBack: (o, l) => spill.read(o, l), onChange: () => notify() });
      spill.onLine((e, o, l) => store.located(e, o, l));
      bus.subscribe('spill', (e) => spill.write(e));
      bus.subscribe('store', (e) => store.ingest(e));
      bus.publish(open(1));
      bus.publish(handshake(1));
      for (let i = 0; i < 200; i++) for (const e of exchange(1, 'client', `message number ${i}`)) bus.publish(e);
      bus.publish(binary(1, 'server', Buffer.from([0, 1, 2, 255])));
      for (let i = 0; i < 100; i++) for (const e of exchange(1, 'client', `later ${i}`)) bus.publish(e);
      // Everything written: the rows know where they are.
      await new Promise<void>((resolve) => {
        const messages = store.connections.get(1)!.logs.messages;
        const wait = (): void => void (messages.location(messages.count - 1) ? resolve() : setTimeout(wait, 5));
        wait();
      });

      const { messages, frames } = store.connections.get(1)!.logs;
      expect(messages.firstRetained).toBeGreaterThan(200);
      expect(store.row(messages, 3)).toEqual({ index: 3, pending: true });
      await new Promise<void>((resolve) => (notify = resolve));
      expect((store.row(messages, 3) as Row).event).toMatchObject({ type: 'message', data: Buffer.from('message number 3') });
      expect(store.row(messages, 200)).toEqual({ index: 200, pending: true });
      await new Promise<void>((resolve) => (notify = resolve));
      expect((store.row(messages, 200) as Row).event).toMatchObject({ type: 'message', opcode: 2, data: Buffer.from([0, 1, 2, 255]) });
      // A whole-message frame read back borrows its message's payload again.
      store.row(frames, 0);
      await new Promise<void>((resolve) => (notify = resolve));
      const f = store.row(frames, 0) as Row;
      expect(formatRow(f.event, 120, f.message, f.wireLength)).toContain('message number 0');

      const found = await findRow({ log: messages, filter: DEFAULT_FILTER, re: /number 17\b/, from: messages.count - 1, limit: messages.count, direction: 1, lines: (start) => spill.records(start) });
      expect(found).toEqual({ raw: 17, partial: false });
      const none = await findRow({ log: messages, filter: DEFAULT_FILTER, re: /no such row/, from: -1, limit: messages.count, direction: 1, lines: (start) => spill.records(start) });
      expect(none).toEqual({ raw: null, partial: false });
    } finally {
      await spill.close();
    }
  });
});
