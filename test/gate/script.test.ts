import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ScriptHost, toSteps } from '../../src/gate/script.js';
import type { ScriptMessage } from '../../src/gate/script-api.js';
import { UsageError } from '../../src/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-script-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let hosts: ScriptHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  hosts = [];
});

function script(name: string, source: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

async function load(file: string, problems: string[] = [], timeoutMs = 1000): Promise<ScriptHost> {
  const host = await ScriptHost.load(file, { timeoutMs, onProblem: (p) => problems.push(p) });
  hosts.push(host);
  return host;
}

function message(text: string, index = 0): ScriptMessage {
  return { conn: 1, from: 'client', index, path: '/chat', opcode: 'text', text, data: Buffer.from(text), compressed: false, truncated: false };
}

describe('ScriptHost', () => {
  it('calls onMessage in a worker and turns its answers into steps', async () => {
    const host = await load(script('ok.mjs', `
      let seen = 0;
      export function onMessage(m) {
        seen++;
        if (m.text === 'ping') return { action: 'respond', text: 'pong' };
        if (m.text === 'secret') return { action: 'edit', text: m.text.toUpperCase() + ' ' + m.data.length + ' ' + seen };
        if (m.text === 'bin') return [{ action: 'delay', ms: 5 }, { action: 'edit', data: new Uint8Array([1, 2]) }];
        if (m.text === 'x') return 'drop';
      }
      export async function onHandshake(h) {
        return h.path === '/deny' ? { action: 'refuse', status: 403, body: 'no' } : undefined;
      }
    `));
    expect(host.hasMessageHook && host.hasHandshakeHook).toBe(true);
    expect(await host.onMessage(message('ping'))).toEqual([{ kind: 'respond', message: { opcode: 1, data: Buffer.from('pong') }, forward: false, by: 'script', name: 'ok.mjs' }]);
    expect(await host.onMessage(message('secret'))).toMatchObject([{ kind: 'edit', message: { opcode: 1, data: Buffer.from('SECRET 6 2') } }]);
    expect(await host.onMessage(message('bin'))).toMatchObject([{ kind: 'delay', ms: 5 }, { kind: 'edit', message: { opcode: 2, data: Buffer.from([1, 2]) } }]);
    expect(await host.onMessage(message('x'))).toMatchObject([{ kind: 'drop' }]);
    expect(await host.onMessage(message('other'))).toEqual([]);
    expect(await host.onHandshake({ conn: 1, path: '/deny', headers: [] })).toEqual({ refuse: { status: 403, body: 'no' } });
    expect(await host.onHandshake({ conn: 1, path: '/ok', headers: [] })).toEqual({ refuse: null });
  });

  it('a throwing hook or a bad answer is reported once and the message goes on unchanged', async () => {
    const problems: string[] = [];
    const host = await load(script('throws.mjs', `
      export function onMessage(m) {
        if (m.text === 'bad') return { action: 'explode' };
        throw new Error('boom');
      }
    `), problems);
    expect(await host.onMessage(message('a'))).toEqual([]);
    expect(await host.onMessage(message('b', 1))).toEqual([]);
    expect(await host.onMessage(message('bad', 2))).toEqual([]);
    expect(problems).toEqual([
      '--script throws.mjs: onMessage for client message 0 of conn 1 threw: boom; forwarded unchanged',
      "--script throws.mjs: onMessage returned an unknown action 'explode'; forwarded unchanged",
    ]);
  });

  it('a hook stuck in a loop is abandoned after the time box; the script is restarted and works again', async () => {
    const problems: string[] = [];
    const host = await load(script('slow.mjs', `
      export function onMessage(m) {
        if (m.text === 'loop') for (;;) {}
        return { action: 'edit', text: 'ok' };
      }
    `), problems, 300);
    expect(await host.onMessage(message('loop'))).toEqual([]);
    expect(problems[0]).toMatch(/took longer than 300 ms \(the script was restarted\); forwarded unchanged$/);
    expect(await host.onMessage(message('fine', 1))).toMatchObject([{ kind: 'edit' }]);
  });

  it('load errors are usage errors naming the file', async () => {
    await expect(ScriptHost.load(path.join(dir, 'missing.mjs'), { onProblem: () => {} })).rejects.toThrow(/^bad --script .*missing\.mjs: no such file$/);
    await expect(ScriptHost.load(script('syntax.mjs', 'export function ('), { onProblem: () => {} })).rejects.toThrow(UsageError);
    await expect(ScriptHost.load(script('none.mjs', 'export const x = 1;'), { onProblem: () => {} })).rejects.toThrow(/exports neither onMessage nor onHandshake/);
  });

  it('toSteps checks what it is given', () => {
    expect(toSteps(undefined, 's')).toEqual([]);
    expect(toSteps(['forward', { action: 'cut' }], 's')).toEqual([{ kind: 'cut', by: 'script', name: 's' }]);
    expect(() => toSteps({ action: 'close', code: 1006 }, 's')).toThrow(/may not be sent/);
    expect(() => toSteps({ action: 'fragment', frames: 0 }, 's')).toThrow(/frame count/);
    expect(() => toSteps(42, 's')).toThrow(/42/);
  });
});
