/**
 * Drives a command in a real terminal (tmux) as a person would: type keys, read the screen text.
 * Every test gets its own session on a tmux server private to this test process (`-L`), killed after.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const SOCKET = `frametap-ui-${process.pid}`;
let counter = 0;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class TmuxSession {
  readonly name = `ft${process.pid}-${++counter}`;
  #alive = false;

  /**
   * Runs `command` (a shell line) in `cwd`; `EXIT=<status>` is printed when it ends. With `record`,
   * every byte the command writes to the terminal is appended to that file (`pipe-pane -O`): the
   * command waits for the pipe to be in place before it starts, so nothing it writes is missed.
   */
  start(command: string, cwd: string, options: { cols?: number; rows?: number; record?: string; clipboard?: boolean } = {}): void {
    const { cols = 160, rows = 48, record, clipboard = false } = options;
    const gate = record ? `${record}.go` : null;
    const wait = gate ? `while [ ! -e '${gate}' ]; do sleep 0.05; done; ` : '';
    const args = ['new-session', '-d', '-s', this.name, '-x', String(cols), '-y', String(rows), '-c', cwd, `${wait}${command}; echo EXIT=$?; sleep 120`];
    // The private server exits with its last session; a new session asked for while it is exiting
    // fails ("server exited unexpectedly"): ask again, a bounded number of times.
    for (let attempt = 1; ; attempt++) {
      try {
        tmux(...args);
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
    this.#alive = true;
    // Lets the program set the clipboard (OSC 52), so a leaked sequence shows up in `buffers()`.
    if (clipboard) tmux('set-option', '-s', 'set-clipboard', 'on');
    if (record && gate) {
      tmux('pipe-pane', '-O', '-t', this.name, `cat >> '${record}'`);
      writeFileSync(gate, '');
    }
  }

  screen(): string {
    return tmux('capture-pane', '-p', '-t', this.name);
  }

  /** The screen with its attributes as escape sequences (`capture-pane -e`). */
  screenWithAttributes(): string {
    return tmux('capture-pane', '-p', '-e', '-t', this.name);
  }

  /** The pane's title, which OSC 0 / OSC 2 set (invisible in capture-pane). */
  paneTitle(): string {
    return tmux('display-message', '-p', '-t', this.name, '#{pane_title}').trim();
  }

  /** tmux's paste buffers, which OSC 52 fills when set-clipboard is on (invisible in capture-pane). */
  buffers(): string {
    return tmux('list-buffers');
  }

  /** Resizes the window (the program gets SIGWINCH). */
  resize(cols: number, rows: number): void {
    tmux('resize-window', '-t', this.name, '-x', String(cols), '-y', String(rows));
  }

  keys(...keys: string[]): void {
    tmux('send-keys', '-t', this.name, ...keys);
  }

  /** Types literal text (no key-name lookup). */
  type(text: string): void {
    tmux('send-keys', '-t', this.name, '-l', text);
  }

  /** Polls the screen until `test` passes; fails with the last screen after `timeoutMs`. */
  async waitFor(test: string | RegExp | ((screen: string) => boolean), timeoutMs = 10_000): Promise<string> {
    const ok = typeof test === 'function' ? test : (s: string) => (typeof test === 'string' ? s.includes(test) : test.test(s));
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      last = this.screen();
      if (ok(last)) return last;
      if (Date.now() > deadline) throw new Error(`screen never showed ${String(test)}; last screen:\n${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  kill(): void {
    if (!this.#alive) return;
    this.#alive = false;
    try {
      tmux('kill-session', '-t', this.name);
    } catch {
      // Already gone.
    }
  }
}

/** Stops this process's private tmux server (only ours: it has its own socket). */
export function killTmuxServer(): void {
  try {
    tmux('kill-server');
  } catch {
    // No server was started.
  }
}
