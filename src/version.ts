import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** frametap's version, from package.json (written into every capture header and HAR). */
export function toolVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
