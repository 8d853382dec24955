/** What the dashboard leaves in TMPDIR: its private spill directory and file (src/capture/spill-file.ts). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';

/** Files below `dir`, relative, sorted (tsx's own cache left out). */
export function filesBelow(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => !f.startsWith('tsx-'))
    .sort();
}

/**
 * Asserts that `temp` holds exactly one private spill directory (0700) with its spill file (0600)
 * and that the file holds `text`; returns the file's path.
 */
export function expectPrivateSpill(temp: string, text: string): string {
  const running = filesBelow(temp);
  expect(running).toEqual([expect.stringMatching(/^frametap-spill-/), expect.stringMatching(/^frametap-spill-.*\/rows\.spill$/)]);
  const spillFile = path.join(temp, running[1]!);
  expect(fs.statSync(path.dirname(spillFile)).mode & 0o777).toBe(0o700);
  expect(fs.statSync(spillFile).mode & 0o777).toBe(0o600);
  expect(fs.readFileSync(spillFile).includes(text)).toBe(true);
  return spillFile;
}
