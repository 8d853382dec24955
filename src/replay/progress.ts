/**
 * The progress line of a long replay on stderr: messages sent of the total, and the time so far.
 * Quiet for the first second, so a short replay prints nothing but its result.
 */
export interface Progress {
  sent(): void;
  stop(): void;
}

export function startProgress(total: number, write: ((line: string) => void) | null, everyMs = 1000): Progress {
  let count = 0;
  const started = performance.now();
  const timer = write
    ? setInterval(() => {
        const elapsed = ((performance.now() - started) / 1000).toFixed(1);
        write(`frametap replay: ${count}/${total} messages sent, ${elapsed} s`);
      }, everyMs)
    : null;
  timer?.unref();
  return {
    sent: () => {
      count++;
    },
    stop: () => {
      if (timer) clearInterval(timer);
    },
  };
}
