/**
 * The gate in forward mode (no -u): rules, faults and breakpoints act on upgrades the forward
 * proxy inspects, as in reverse mode. Real ws echo server, a raw socket as the client (absolute-form
 * upgrade, the way a non-browser client talks to a proxy), bytes read as they arrived.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GateSetup } from '../../src/gate/gate-setup.js';
import { GateControl } from '../../src/gate/gate-control.js';
import { startEchoServer } from '../helpers/servers.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { startForwardHarness, type ForwardHarness } from '../proxy/forward-harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A raw client socket whose bytes are collected; `until(n)` waits for n bytes in all. */
function rawClient(port: number): { socket: net.Socket; until: (n: number | string) => Promise<Buffer> } {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  cleanups.push(() => void socket.destroy());
  let got = Buffer.alloc(0);
  let waiter: { check: () => boolean } | null = null;
  socket.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
    waiter?.check();
  });
  socket.on('close', () => waiter?.check());
  const until = (n: number | string): Promise<Buffer> => {
    const d = deferred<Buffer>();
    const check = (): boolean => {
      const end = typeof n === 'number' ? (got.length >= n ? n : -1) : got.indexOf(n) >= 0 ? got.indexOf(n) + n.length : -1;
      if (end >= 0) {
        waiter = null;
        d.resolve(got.subarray(0, end));
        return true;
      }
      if (socket.destroyed) d.reject(new Error(`closed after ${got.length} bytes: ${JSON.stringify(got.toString('latin1'))}`));
      return false;
    };
    waiter = { check };
    check();
    return withTimeout(d.promise, `${n} from the proxy`);
  };
  return { socket, until };
}

function upgradeRequest(port: number, p: string): string {
  return `GET http://127.0.0.1:${port}${p} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/** A masked client text frame (RFC 6455 §5.2). */
function maskedText(text: string, key = [1, 2, 3, 4]): Buffer {
  const data = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, 0x80 | data.length, ...key]), Buffer.from(data.map((b, i) => b ^ key[i % 4]!))]);
}

async function harness(gate: GateSetup): Promise<ForwardHarness> {
  const h = await startForwardHarness({ gate });
  cleanups.push(() => h.stop());
  return h;
}

describe('the gate in forward mode', () => {
  it('--rules edits a client message and a refuse fault answers an upgrade; the echo is read byte-exact', async () => {
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-fwd-gate-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const rules = path.join(dir, 'rules.json');
    fs.writeFileSync(rules, JSON.stringify([{ name: 'shout', match: { from: 'client', text: '^hi$' }, action: 'edit', text: 'HI' }]));
    const gate = (await GateSetup.fromFlags({ rules, fault: ['refuse=503~^/refused'] }, () => {}))!;
    cleanups.push(() => gate.close());
    const h = await harness(gate);

    const c = rawClient(h.proxy.port);
    c.socket.write(upgradeRequest(echo.port, '/live'));
    const head = (await c.until('\r\n\r\n')).toString('latin1');
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    c.socket.write(maskedText('hi'));
    // The echo server got "HI" and sent it back unmasked: exactly these bytes after the 101.
    const all = await c.until(head.length + 4);
    expect(all.subarray(head.length)).toEqual(Buffer.from([0x81, 0x02, 0x48, 0x49]));
    c.socket.write(maskedText('untouched'));
    const rest = await c.until(head.length + 4 + 11);
    expect(rest.subarray(head.length + 4).toString('latin1')).toBe('\x81\x09untouched');
    const intercept = await h.event('intercept');
    expect(intercept).toMatchObject({ action: 'edit', by: 'rule', name: 'shout', from: 'client' });

    const refused = rawClient(h.proxy.port);
    refused.socket.write(upgradeRequest(echo.port, '/refused'));
    expect((await refused.until('\r\n\r\n')).toString('latin1')).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(await h.event('intercept', (e) => e.action === 'refuse')).toMatchObject({ by: 'fault' });
    expect(echo.sockets.length).toBe(1);
  });

  it("the dashboard's breakpoints work on forward connections: a held 101 is relayed when forwarded", async () => {
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const gate = GateSetup.empty();
    const control = new GateControl(gate);
    control.breakpoints.add('101 path:^/held');
    const h = await harness(gate);
    const c = rawClient(h.proxy.port);
    c.socket.write(upgradeRequest(echo.port, '/held'));
    await h.event('intercept', (e) => e.action === 'hold');
    expect(control.heldHandshakes()).toEqual([{ conn: 1, target: '/held', stage: 'response' }]);
    await echo.connection(0);
    expect(control.forwardHandshake(1)).toBe(true);
    expect((await c.until('\r\n\r\n')).toString('latin1')).toMatch(/^HTTP\/1\.1 101/);
  });
});
