/**
 * `--ignore-regex RE`: masks what a regular expression matches in every text message before
 * `replay --check` compares it, for session-specific values inside framing `--ignore` (JSON paths)
 * cannot reach, such as socket.io's `0{"sid":"…"}` and `42["event",{…}]`.
 */
import { UsageError } from '../errors.js';

/** What each match becomes on both sides of the comparison (and in the diff). */
export const MASK = '<ignored>';

/** Compiles one `--ignore-regex` (JavaScript syntax, every match); a bad one is a UsageError. */
export function parseIgnoreRegex(source: string): RegExp {
  if (source === '') throw new UsageError(`bad --ignore-regex '': expected a regular expression such as '"sid":"[^"]*"'`);
  try {
    return new RegExp(source, 'g');
  } catch (error) {
    throw new UsageError(`bad --ignore-regex '${source}': ${(error as Error).message}`);
  }
}

/** The text with every match of every pattern replaced by MASK, pattern after pattern. */
export function maskText(text: string, patterns: readonly RegExp[]): string {
  let out = text;
  // replace() with a global RegExp starts from 0 whatever lastIndex was left at.
  for (const p of patterns) out = out.replace(p, MASK);
  return out;
}
