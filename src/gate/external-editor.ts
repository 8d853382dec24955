/**
 * Edits a held message in the user's `$EDITOR` (issue 13). Unlike blessed's `readEditor` (a
 * predictable `/tmp/<title>.<rnd>` with the default mode, read back as UTF-8 so invalid bytes are
 * lost, `$EDITOR` spawned without a shell so `code --wait` fails): a private `mkdtemp` folder, a
 * mode-0600 file created exclusively (never through a link), the bytes read back as a Buffer,
 * `$EDITOR` run through the shell with the file as `$1`, and hex for binary messages.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isValidUtf8 } from '../protocol/validation.js';

export interface EditRequest {
  readonly data: Buffer;
  /** Edit as hex (binary messages, or text that is not valid UTF-8). */
  readonly hex: boolean;
  /** The editor command line (`$VISUAL`, `$EDITOR`, else `vi`); run by `/bin/sh -c`. */
  readonly editor?: string;
  /**
   * Runs `/bin/sh -c COMMAND sh FILE` and resolves with its exit status; the dashboard's runner hands
   * the terminal over while it runs. Default: a child with the terminal inherited.
   */
  readonly run?: (shellArgs: readonly string[]) => Promise<number>;
}

export type EditResult =
  | { readonly kind: 'edited'; readonly data: Buffer; readonly changed: boolean; readonly validUtf8: boolean }
  | { readonly kind: 'cancelled'; readonly why: string };

/** The editor command frametap runs. */
export function editorCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.VISUAL?.trim() || env.EDITOR?.trim() || 'vi';
}

const HEX_HEADER = '# frametap: edit the bytes as hex (whitespace and # comments are ignored); save and quit to send\n';

/** Hex, 16 bytes a line. */
export function toHexText(data: Buffer): string {
  const lines: string[] = [];
  for (let i = 0; i < data.length; i += 16) lines.push(data.subarray(i, i + 16).toString('hex').replace(/(..)(?!$)/g, '$1 '));
  return HEX_HEADER + lines.join('\n') + '\n';
}

/** Bytes from hex text, or an error naming the line. */
export function fromHexText(text: string): { readonly data: Buffer } | { readonly error: string } {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').replace(/\s+/g, '');
    if (line === '') continue;
    if (!/^[0-9a-fA-F]*$/.test(line)) return { error: `line ${i + 1}: not hex: '${lines[i]!.trim()}'` };
    out.push(line);
  }
  const hex = out.join('');
  if (hex.length % 2 !== 0) return { error: 'an odd number of hex digits' };
  return { data: Buffer.from(hex, 'hex') };
}

/** Runs the editor on the bytes; the caller has handed the terminal over (the dashboard suspends itself). */
export async function editExternally(request: EditRequest): Promise<EditResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-edit-'));
  try {
    const file = path.join(dir, request.hex ? 'message.hex' : 'message.txt');
    // 'wx': created here or not at all (never through a link someone planted); mode 0600.
    const fd = fs.openSync(file, 'wx', 0o600);
    try {
      fs.writeSync(fd, request.hex ? Buffer.from(toHexText(request.data)) : request.data);
    } finally {
      fs.closeSync(fd);
    }
    const args = ['-c', `${request.editor ?? editorCommand()} "$1"`, 'sh', file];
    const code = await (request.run ?? runShell)(args);
    if (code !== 0) return { kind: 'cancelled', why: `the editor exited with status ${code}` };
    const raw = fs.readFileSync(file);
    let data: Buffer;
    if (request.hex) {
      const parsed = fromHexText(raw.toString('latin1'));
      if ('error' in parsed) return { kind: 'cancelled', why: `hex: ${parsed.error}` };
      data = parsed.data;
    } else data = raw;
    return { kind: 'edited', data, changed: !data.equals(request.data), validUtf8: isValidUtf8(data) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function runShell(args: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', [...args], { stdio: 'inherit' });
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
