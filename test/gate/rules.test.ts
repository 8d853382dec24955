import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRules, parseRules, rulesMayApply, rulesVerdict, RulesWatcher, type RuleSet } from '../../src/gate/rules.js';
import type { MessageView } from '../../src/gate/actions.js';
import { UsageError } from '../../src/errors.js';
import { deferred, withTimeout } from '../helpers/deferred.js';

function view(text: string | null, extra: Partial<MessageView> = {}): MessageView {
  const data = Buffer.from(text ?? 'bin');
  return { from: 'client', index: 0, opcode: text === null ? 2 : 1, compressed: false, length: data.length, data, text, truncated: false, ...extra };
}

function rules(doc: unknown): RuleSet {
  return parseRules(JSON.stringify(doc), 'r.json');
}

function error(doc: unknown): string {
  try {
    parseRules(typeof doc === 'string' ? doc : JSON.stringify(doc), 'r.json');
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('parsed');
}

describe('rules: matching and actions', () => {
  it('matches direction, opcode, text regex, JSON path and connection path; first match acts', () => {
    const set = rules([
      { name: 'server-only', match: { from: 'server' }, action: 'drop' },
      { name: 'auth', match: { from: 'client', opcode: 'text', json: { path: '$.type', equals: 'auth' } }, action: 'edit', set: { '$.token': '*' } },
      { name: 'chat', match: { text: '^hello', path: '^/chat' }, action: 'delay', ms: 100 },
      { match: { opcode: 'binary' }, action: 'hold' },
    ]);
    expect(rulesVerdict(set, view('x', { from: 'server' }), '/', null)).toEqual([{ kind: 'drop', by: 'rule', name: 'server-only' }]);
    const [edit] = rulesVerdict(set, view('{"type":"auth","token":"secret"}'), '/', null);
    expect(edit).toMatchObject({ kind: 'edit', by: 'rule', name: 'auth', detail: 'replaced $.token' });
    expect((edit as { message: { data: Buffer } }).message.data.toString()).toBe('{"type":"auth","token":"*"}');
    expect(rulesVerdict(set, view('{"type":"other"}'), '/', null)).toEqual([]);
    expect(rulesVerdict(set, view('hello there'), '/chat/1', null)).toEqual([{ kind: 'delay', ms: 100, by: 'rule', name: 'chat' }]);
    expect(rulesVerdict(set, view('hello there'), '/news', null)).toEqual([]);
    expect(rulesVerdict(set, view(null), '/', null)).toEqual([{ kind: 'hold', timeoutMs: 30_000, by: 'rule', name: 'rule 4' }]);
    expect(rulesVerdict(set, view(null), '/', 5000)).toEqual([{ kind: 'hold', timeoutMs: 5000, by: 'rule', name: 'rule 4' }]);
  });

  it('continue lets later rules act; regex replace, text, base64, respond and close', () => {
    const set = rules({
      rules: [
        { name: 'slow', action: 'delay', ms: 5, continue: true },
        { name: 'swap', match: { text: 'cat' }, action: 'edit', replace: { regex: 'cat', with: 'dog' } },
        { name: 'ping', match: { text: '^ping$' }, action: 'respond', text: 'pong' },
        { name: 'bye', match: { text: '^bye$' }, action: 'close', code: 4001, reason: 'rule says bye', toward: 'client' },
        { name: 'bin', match: { text: '^bin$' }, action: 'edit', base64: 'AAEC' },
      ],
    });
    const [delay, swap] = rulesVerdict(set, view('a cat and a cat'), '/', null);
    expect(delay).toMatchObject({ kind: 'delay', ms: 5 });
    expect((swap as { message: { data: Buffer } }).message.data.toString()).toBe('a dog and a dog');
    expect(rulesVerdict(set, view('ping'), '/', null)[1]).toMatchObject({ kind: 'respond', forward: false, message: { opcode: 1, data: Buffer.from('pong') } });
    expect(rulesVerdict(set, view('bye'), '/', null)[1]).toEqual({ kind: 'close', code: 4001, reason: 'rule says bye', toward: 'client', by: 'rule', name: 'bye' });
    expect(rulesVerdict(set, view('bin'), '/', null)[1]).toMatchObject({ kind: 'edit', message: { opcode: 2, data: Buffer.from([0, 1, 2]) } });
    // An edit that changes nothing is no edit.
    expect(rulesVerdict(set, view('no match here'), '/', null)).toEqual([delay]);
  });

  it('JSON path matches with wildcards and regex; truncated or invalid JSON never matches', () => {
    const set = rules([{ match: { json: { path: '$.items[*].id', regex: '^a' } }, action: 'drop' }, { match: { json: '$.present' }, action: 'drop' }]);
    expect(rulesVerdict(set, view('{"items":[{"id":"b1"},{"id":"a2"}]}'), '/', null)).toHaveLength(1);
    expect(rulesVerdict(set, view('{"items":[{"id":"b1"}]}'), '/', null)).toHaveLength(0);
    expect(rulesVerdict(set, view('{"present":null}'), '/', null)).toHaveLength(1);
    expect(rulesVerdict(set, view('{"present":1}', { truncated: true }), '/', null)).toHaveLength(0);
    expect(rulesVerdict(set, view('not json'), '/', null)).toHaveLength(0);
  });

  it('rulesMayApply looks at direction and connection path only', () => {
    const set = rules([{ match: { from: 'server', path: '^/chat', text: 'never' }, action: 'drop' }]);
    expect(rulesMayApply(set, 'server', '/chat')).toBe(true);
    expect(rulesMayApply(set, 'client', '/chat')).toBe(false);
    expect(rulesMayApply(set, 'server', '/other')).toBe(false);
  });
});

describe('rules: a mistake is one line naming the file, the rule and what is wrong', () => {
  it.each([
    ['{', /^bad --rules r\.json: not JSON/],
    [{ rule: [] }, /expected a list of rules/],
    [[1], /rule 1: expected an object/],
    [[{ action: 'drop' }, { name: 'x', action: 'explode' }], /rule 2 \("x"\): 'action' must be one of drop, edit, delay, respond, close, hold \(got "explode"\)/],
    [[{ action: 'drop', extra: 1 }], /rule 1: unknown field 'extra'/],
    [[{ action: 'drop', ms: 1 }], /'ms' does not go with "action": "drop"/],
    [[{ match: { form: 'client' }, action: 'drop' }], /unknown field 'match.form'/],
    [[{ match: { from: 'both' }, action: 'drop' }], /'match.from' must be "client" or "server"/],
    [[{ match: { opcode: 'ping' }, action: 'drop' }], /'match.opcode' must be "text" or "binary"/],
    [[{ match: { text: '(' }, action: 'drop' }], /'match.text' is not a valid regex/],
    [[{ match: { json: '$..x' }, action: 'drop' }], /rule 1: json path '\$\.\.x' at character/],
    [[{ action: 'edit' }], /an edit needs 'text', 'base64', 'replace' or 'set'/],
    [[{ action: 'edit', text: 'a', base64: 'AA==' }], /give 'text' or 'base64', not both/],
    [[{ action: 'edit', base64: '!!' }], /'base64' must be a base64 string/],
    [[{ action: 'edit', set: { 'token': 1 } }], /set path 'token'/],
    [[{ action: 'delay' }], /'ms' must be a number of milliseconds/],
    [[{ action: 'respond' }], /a response needs 'text' or 'base64'/],
    [[{ action: 'close', code: 1006 }], /'code' must be a close code that may be sent/],
    [[{ action: 'close', reason: 'x'.repeat(124) }], /longer than 123 bytes/],
    [[{ action: 'close', toward: 'up' }], /'toward' must be "client", "server" or "both"/],
    [[{ action: 'hold', timeout: -1 }], /'timeout' must be a number of seconds/],
  ])('%j', (doc, why) => {
    expect(error(doc)).toMatch(why);
  });

  it('a missing file', () => {
    expect(() => loadRules('/nonexistent/rules.json')).toThrow(/^bad --rules \/nonexistent\/rules\.json: no such file$/);
  });
});

describe('RulesWatcher', () => {
  let dir: string | null = null;
  let watcher: RulesWatcher | null = null;
  afterEach(() => {
    watcher?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reloads on change; a bad file keeps the previous rules and says why once', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-rules-'));
    const file = path.join(dir, 'rules.json');
    const first = JSON.stringify([{ action: 'drop' }]);
    fs.writeFileSync(file, first);
    const loads: RuleSet[] = [];
    const problems: string[] = [];
    let notify = deferred();
    watcher = new RulesWatcher(file, first, (s) => { loads.push(s); notify.resolve(); }, (p) => { problems.push(p); notify.resolve(); });

    fs.writeFileSync(file, JSON.stringify([{ action: 'delay', ms: 1 }]));
    await withTimeout(notify.promise, 'a reload');
    expect(loads.map((s) => s.rules[0]!.action.kind)).toEqual(['delay']);

    notify = deferred();
    fs.writeFileSync(file, JSON.stringify([{ action: 'nope' }]));
    await withTimeout(notify.promise, 'a problem');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/rule 1: 'action' must be one of .*; the previous rules stay in force$/);
    // The same mistake saved again is not reported again.
    fs.writeFileSync(file, JSON.stringify([{ action: 'nope' }]) + ' ');
    watcher.reload();
    expect(problems).toHaveLength(1);

    // Saved by rename (as editors do).
    notify = deferred();
    fs.writeFileSync(path.join(dir, 'tmp'), JSON.stringify([{ action: 'hold' }]));
    fs.renameSync(path.join(dir, 'tmp'), file);
    await withTimeout(notify.promise, 'a reload after rename');
    expect(loads.map((s) => s.rules[0]!.action.kind)).toEqual(['delay', 'hold']);
  });
});
