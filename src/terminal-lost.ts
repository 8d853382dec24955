/**
 * The terminal went away (SIGHUP: it closed, tmux kill-session, an ssh drop; or the dashboard's
 * writes to it failed). Once everything is flushed and removed, the CLI ends by the hangup itself
 * (`endAfterHangup`): exiting normally would make Node restore a terminal that no longer exists,
 * which aborts on an assertion in Node 20 (node.cc ResetStdio) — exit status 134 and a core.
 */
let lost = false;

export function markTerminalLost(): void {
  lost = true;
}

export function terminalLost(): boolean {
  return lost;
}

/** Re-raises SIGHUP with its default action (terminate); no listener may be left for it. */
export function endAfterHangup(): void {
  process.removeAllListeners('SIGHUP');
  process.kill(process.pid, 'SIGHUP');
}
