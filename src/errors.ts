/** A user's mistake (bad flag, missing file): one line on stderr, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(message: string, readonly exitCode: 2 | 3 = 2) {
    super(message);
  }
}

/** A runtime failure with context; the CLI prints it as one line and exits 1. */
export class FrametapError extends Error {
  override readonly name = 'FrametapError';
  constructor(
    message: string,
    readonly context: {
      readonly conn?: number;
      readonly from?: 'client' | 'server';
      readonly offset?: number;
      readonly stage?: string;
      readonly exitCode?: number;
      readonly cause?: unknown;
    } = {},
  ) {
    super(message);
  }
}

/** Our own bug: an impossible state was reached. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`frametap internal error: ${message}`);
}
