/**
 * The dashboard's keys that act on live traffic (issue 13; docs/dashboard.md): breakpoints, the
 * held messages, inject, close, ping, cut, interception off. The questions they ask (a filter, a
 * side, a confirmation) are one prompt line in the status bar; `d`, `K` and `X` ask for
 * confirmation. No blessed here: the dashboard routes keys in and draws `prompt` and `notice`.
 */
import type { Side } from '../src/session/events.js';
import type { GateControl, HeldEntry, HeldHandshake } from '../src/gate/gate-control.js';
import { editExternally } from '../src/gate/external-editor.js';
import type { InterceptKeyAction } from './keymap.js';

/** One line of the held list: an upgrade request or 101 held, or a held message. */
type HeldItem = { readonly key: string; readonly handshake: HeldHandshake } | { readonly key: string; readonly message: HeldEntry };

interface Pending {
  readonly question: string;
  readonly kind: 'line' | 'key';
  buffer: string;
  readonly resolve: (answer: string | null) => void;
}

export interface InterceptKeysOptions {
  readonly control: GateControl;
  /** Runs the editor's shell command with the terminal handed over; resolves with its exit status. */
  readonly runEditor: (shellArgs: readonly string[]) => Promise<number>;
  /** Something changed on screen (a prompt, a notice). */
  readonly onChange: () => void;
}

export class InterceptKeys {
  readonly #o: InterceptKeysOptions;
  #pending: Pending | null = null;
  notice: string | null = null;
  /** The held list (`H`) is open: `a`, `e` and `d` act on its picked item. */
  listOpen = false;
  /** The picked item of the held list, by identity (items come and go while it is open). */
  #picked: string | null = null;

  constructor(options: InterceptKeysOptions) {
    this.#o = options;
  }

  /** A question is waiting for an answer: keys go to `key`. */
  get prompting(): boolean {
    return this.#pending !== null;
  }

  /** The prompt line: the question and what was typed so far. */
  get prompt(): string | null {
    const p = this.#pending;
    if (p === null) return null;
    return p.kind === 'line' ? `${p.question}${p.buffer}▏  (Enter, Esc cancels)` : `${p.question}  (Esc cancels)`;
  }

  /** The status bar's summary of what is held. */
  status(): string | null {
    const held = this.#o.control.held();
    const handshakes = this.#o.control.heldHandshakes();
    const off = !this.#o.control.breakpoints.enabled && this.#o.control.breakpoints.list.length > 0;
    const bps = this.#o.control.breakpoints.list.length;
    if (held.length === 0 && handshakes.length === 0 && bps === 0) return null;
    const first = held[0];
    const hs = handshakes[0];
    const what = hs && !first
      ? ` — next: #${hs.conn} ${hs.stage === 'request' ? 'upgrade request' : "upstream's 101 to"} ${hs.target}`
      : first
        ? ` — next: #${first.conn} ${first.ref.from} message ${first.ref.index}${first.view.text !== null ? ` ${JSON.stringify(first.view.text.slice(0, 40))}` : ` (${first.view.length} bytes)`}`
        : '';
    return `HELD ${held.length + handshakes.length}${what}  breakpoints ${bps}${off ? ' (interception off)' : ''}  H list  a forward  A all  e edit  d drop`;
  }

  /** What is held, oldest first: upgrade requests and 101s, then messages (the same data GateControl acts on). */
  #items(): HeldItem[] {
    const c = this.#o.control;
    return [
      ...c.heldHandshakes().map((h) => ({ key: `h${h.conn}`, handshake: h })),
      ...c.held().map((m) => ({ key: `m${m.conn}:${m.ref.from}:${m.ref.index}`, message: m })),
    ];
  }

  /** The picked item: the one picked if still held, else the first. */
  #pick(): HeldItem | undefined {
    const items = this.#items();
    return items.find((i) => i.key === this.#picked) ?? items[0];
  }

  /** The held list's lines, the picked one marked `▶`. */
  heldLines(): string[] {
    const items = this.#items();
    if (items.length === 0) return ['nothing held'];
    const picked = this.#pick()?.key;
    return items.map((i) => {
      const what =
        'handshake' in i
          ? `#${i.handshake.conn} ${i.handshake.stage === 'request' ? 'upgrade request' : "upstream's 101 to"} ${i.handshake.target}`
          : `#${i.message.conn} ${i.message.ref.from === 'client' ? '→' : '←'} ${i.message.ref.from} message ${i.message.ref.index}  ${describeView(i.message)}`;
      return `${i.key === picked ? '▶' : ' '} ${what}`;
    });
  }

  /** A key while prompting (blessed key name and character). */
  key(name: string, ch: string | undefined): void {
    const p = this.#pending;
    if (p === null) return;
    if (name === 'escape' || name === 'C-c') return this.#answer(null);
    if (p.kind === 'key') {
      if (ch && ch.length === 1 && ch >= ' ') this.#answer(ch);
      return;
    }
    if (name === 'enter') return this.#answer(p.buffer);
    if (name === 'return' || name === 'linefeed') return;
    if (name === 'backspace') p.buffer = p.buffer.slice(0, -1);
    else if (ch && ch.length === 1 && ch >= ' ') p.buffer += ch;
    else return;
    this.#o.onChange();
  }

  /** One of the keys; `conn` is the selected connection (or null). */
  perform(action: InterceptKeyAction, conn: number | null): void {
    void this.#run(action, conn).catch((error: unknown) => this.#say(`${action}: ${(error as Error).message}`));
  }

  async #run(action: InterceptKeyAction, conn: number | null): Promise<void> {
    const c = this.#o.control;
    switch (action) {
      case 'held-up':
      case 'held-down': {
        const items = this.#items();
        const at = Math.max(0, items.findIndex((i) => i.key === this.#pick()?.key));
        this.#picked = items[Math.min(items.length - 1, Math.max(0, at + (action === 'held-up' ? -1 : 1)))]?.key ?? null;
        return this.#o.onChange();
      }
      case 'breakpoint': {
        const filter = await this.#ask('breakpoint (client|server text|binary /regex/ $.json.path[=value] path:regex handshake|101; empty: all): ', 'line');
        if (filter === null) return;
        try {
          const bp = c.breakpoints.add(filter);
          return this.#say(`breakpoint ${bp.id} set: ${bp.source || 'every message'}`);
        } catch (error) {
          return this.#say((error as Error).message);
        }
      }
      case 'forward': {
        const hs = this.#heldHandshake(conn);
        if (hs !== null) {
          const what = this.#stageName(hs);
          c.forwardHandshake(hs);
          return this.#say(`forwarded the ${what} of #${hs}`);
        }
        const h = this.#held(conn);
        if (!h) return this.#say('nothing held');
        c.forward(h.conn, h.ref.from, h.ref.index);
        return this.#say(`forwarded #${h.conn} ${h.ref.from} message ${h.ref.index}`);
      }
      case 'forward-all':
        return this.#say(`forwarded ${c.forwardAll()} held message(s)`);
      case 'drop': {
        const hs = this.#heldHandshake(conn);
        if (hs !== null) {
          const what = this.#stageName(hs);
          if (!(await this.#confirm(`refuse the ${what} of #${hs} (the client gets 403)? (y/n) `))) return this.#say('not dropped');
          c.dropHandshake(hs);
          return this.#say(`refused the ${what} of #${hs}`);
        }
        const h = this.#held(conn);
        if (!h) return this.#say('nothing held');
        if (!(await this.#confirm(`drop #${h.conn} ${h.ref.from} message ${h.ref.index}? (y/n) `))) return this.#say('not dropped');
        c.drop(h.conn, h.ref.from, h.ref.index);
        return this.#say(`dropped #${h.conn} ${h.ref.from} message ${h.ref.index}`);
      }
      case 'edit':
        return this.#edit(conn);
      case 'inject': {
        if (conn === null) return this.#say('select a connection first');
        const toward = await this.#side('inject toward (c)lient or (s)erver? ');
        if (toward === null) return;
        const body = await this.#ask(`message to the ${toward} (text; hex:0a0b… for binary): `, 'line');
        if (body === null) return;
        const message = body.startsWith('hex:') ? { opcode: 2 as const, data: Buffer.from(body.slice(4).replace(/\s+/g, ''), 'hex') } : { opcode: 1 as const, data: Buffer.from(body, 'utf8') };
        return this.#say(c.inject(conn, toward, message) ? `injected toward the ${toward}` : `connection #${conn} is not open`);
      }
      case 'kill': {
        if (conn === null) return this.#say('select a connection first');
        const side = await this.#ask('close toward (c)lient, (s)erver or (b)oth? ', 'key');
        const toward = side === 'c' ? 'client' : side === 's' ? 'server' : side === 'b' ? 'both' : null;
        if (toward === null) return;
        const answer = await this.#ask('close code and reason: ', 'line', '1000 ');
        if (answer === null) return;
        const m = /^\s*(\d{4})\s*(.*)$/.exec(answer);
        const code = m ? Number(m[1]) : NaN;
        // RFC 6455 §7.4: only these may be sent on the wire.
        if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))) return this.#say(`${answer.trim()}: not a close code that may be sent`);
        if (!(await this.#confirm(`close #${conn} toward ${toward} with ${code}? (y/n) `))) return this.#say('not closed');
        return this.#say(c.close(conn, toward, code, m![2]!) ? `closed #${conn} toward ${toward} (${code})` : `connection #${conn} is not open`);
      }
      case 'ping': {
        if (conn === null) return this.#say('select a connection first');
        const toward = await this.#side('ping the (c)lient or the (s)erver? ');
        if (toward === null) return;
        return this.#say(c.ping(conn, toward, Buffer.from('frametap')) ? `pinged the ${toward}` : `connection #${conn} is not open`);
      }
      case 'cut': {
        if (conn === null) return this.#say('select a connection first');
        if (!(await this.#confirm(`cut #${conn} (TCP reset both sides, a 1006 end)? (y/n) `))) return this.#say('not cut');
        return this.#say(c.cut(conn) ? `cut #${conn}` : `connection #${conn} is not open`);
      }
      case 'intercept-off':
        if (c.breakpoints.enabled) return this.#say(`interception off: ${c.interceptionOff()} held message(s) forwarded`);
        c.interceptionOn();
        return this.#say('interception on');
    }
  }

  async #edit(conn: number | null): Promise<void> {
    const h = this.#held(conn);
    if (!h) return this.#say('nothing held');
    const binary = h.view.opcode === 2 || h.view.text === null;
    if (h.view.truncated) return this.#say(`message ${h.ref.index} is larger than what is kept: it can be forwarded or dropped, not edited`);
    const result = await editExternally({ data: h.view.data, hex: binary, run: this.#o.runEditor });
    if (result.kind === 'cancelled') return this.#say(`not edited: ${result.why}`);
    if (!result.changed) return this.#say('unchanged: still held (a forwards it)');
    if (h.view.opcode === 1 && !result.validUtf8) {
      // A testing tool: sending invalid UTF-8 in a text message is allowed, on purpose (RFC 6455 §8.1 makes the receiver fail with 1007).
      const ok = await this.#confirm('the edited text is not valid UTF-8: send it anyway as a deliberate violation? (y: send, n: keep it held) ');
      if (!ok) return this.#say('not sent: still held (e edits again)');
    }
    this.#o.control.edit(h.conn, h.ref.from, h.ref.index, { opcode: h.view.opcode, data: result.data });
    return this.#say(`sent the edited #${h.conn} ${h.ref.from} message ${h.ref.index}`);
  }

  #stageName(conn: number): string {
    return this.#o.control.heldHandshakes().find((h) => h.conn === conn)?.stage === 'response' ? "upstream's 101" : 'upgrade request';
  }

  /**
   * A held upgrade request or 101 `a`/`d` act on: the picked one while the held list is open, else
   * the selected connection's, else the oldest when no message is held.
   */
  #heldHandshake(conn: number | null): number | null {
    if (this.listOpen) {
      const p = this.#pick();
      return p && 'handshake' in p ? p.handshake.conn : null;
    }
    const hs = this.#o.control.heldHandshakes();
    const mine = hs.find((h) => h.conn === conn);
    if (mine) return mine.conn;
    if (this.#held(conn) !== undefined) return null;
    return hs[0]?.conn ?? null;
  }

  /** The held message `a`/`e`/`d` act on: the picked one in the held list, else the oldest of the selected connection, else the oldest. */
  #held(conn: number | null): HeldEntry | undefined {
    if (this.listOpen) {
      const p = this.#pick();
      return p && 'message' in p ? p.message : undefined;
    }
    const held = this.#o.control.held();
    return held.find((h) => h.conn === conn) ?? held[0];
  }

  async #side(question: string): Promise<Side | null> {
    const k = await this.#ask(question, 'key');
    return k === 'c' ? 'client' : k === 's' ? 'server' : null;
  }

  async #confirm(question: string): Promise<boolean> {
    return (await this.#ask(question, 'key')) === 'y';
  }

  #ask(question: string, kind: 'line' | 'key', initial = ''): Promise<string | null> {
    this.#pending?.resolve(null);
    return new Promise((resolve) => {
      this.#pending = { question, kind, buffer: initial, resolve };
      this.#o.onChange();
    });
  }

  #answer(answer: string | null): void {
    const p = this.#pending;
    this.#pending = null;
    p?.resolve(answer);
    this.#o.onChange();
  }

  #say(text: string): void {
    this.notice = text;
    this.#o.onChange();
  }
}

function describeView(h: HeldEntry): string {
  return h.view.text !== null ? JSON.stringify(h.view.text.length > 60 ? `${h.view.text.slice(0, 60)}…` : h.view.text) : `(${h.view.length} bytes binary)`;
}
