/**
 * Tests that need a Debian package (chromium, tmux) use these guards: when the package is missing
 * the test is skipped with one notice naming the install line, and under CI=true it fails instead,
 * so a CI machine without the package can never pass by skipping.
 */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { it } from 'vitest';

export const INSTALL_LINE = 'apt-get install -y chromium tmux tshark openssl';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags that keep Chromium off the network (this machine has none) and quiet in a container. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
];

export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** tshark and dumpcap come with Debian's tshark package. */
export function hasTool(name: 'tshark' | 'dumpcap'): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const noticed = new Set<string>();

/**
 * `it` when the package is there; otherwise an `it` that fails under CI=true and is skipped with a
 * one-line notice elsewhere.
 */
export function itWith(pkg: 'chromium' | 'tmux' | 'tshark' | 'dumpcap'): typeof it {
  const present = pkg === 'chromium' ? hasChromium() : pkg === 'tmux' ? hasTmux() : hasTool(pkg);
  if (present) return it;
  if (process.env.CI === 'true') {
    return ((name: string) =>
      it(name, () => {
        throw new Error(`${pkg} is not installed; CI must install it: ${INSTALL_LINE}`);
      })) as unknown as typeof it;
  }
  if (!noticed.has(pkg)) {
    noticed.add(pkg);
    process.stderr.write(`frametap tests: ${pkg} not installed, its tests are skipped (${INSTALL_LINE})\n`);
  }
  return it.skip as unknown as typeof it;
}
