/**
 * Drives a command in a real terminal (tmux) as a person would: type keys, read the screen text.
 * Every test gets its own session on a tmux server private to this test process (`-L`), killed after.
 */
import { execFileSync } from 'node:child_process';

const SOCKET = `frametap-ui-${process.pid}`;
let counter = 0;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class TmuxSession {
  readonly name = `ft${process.pid}-${++counter}`;
  #alive = false;

  /** Runs `command` (a shell line) in /work/main-relative cwd; `EXIT=<status>` is printed when it ends. */
  start(command: string, cwd: string): void {
    tmux('new-session', '-d', '-s', this.name, '-x', '160', '-y', '48', '-c', cwd, `${command}; echo EXIT=$?; sleep 120`);
    this.#alive = true;
  }

  screen(): string {
    return tmux('capture-pane', '-p', '-t', this.name);
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
