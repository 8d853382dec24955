import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { editExternally, editorCommand, fromHexText, toHexText } from '../../src/gate/external-editor.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-editor-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An "editor": a shell script that records the file's mode and path, then rewrites it. */
function editor(body: string): string {
  const file = path.join(dir, `ed-${Math.random().toString(36).slice(2)}.sh`);
  fs.writeFileSync(file, `#!/bin/sh\nfor f; do :; done\nstat -c %a "$f" > "${dir}/mode"\necho "$f" > "${dir}/path"\n${body}\n`, { mode: 0o700 });
  return file;
}

describe('editExternally', () => {
  it('text: a private 0600 file, the editor run through the shell with arguments, bytes read back', async () => {
    const ed = editor(`printf '{"edited":true}' > "$f"`);
    const result = await editExternally({ data: Buffer.from('{"edited":false}'), hex: false, editor: `${ed} --wait` });
    expect(result).toEqual({ kind: 'edited', data: Buffer.from('{"edited":true}'), changed: true, validUtf8: true });
    expect(fs.readFileSync(path.join(dir, 'mode'), 'utf8').trim()).toBe('600');
    const used = fs.readFileSync(path.join(dir, 'path'), 'utf8').trim();
    expect(path.basename(path.dirname(used))).toMatch(/^frametap-edit-/);
    expect(fs.existsSync(used)).toBe(false);
  });

  it('keeps invalid UTF-8 bytes and says so', async () => {
    const ed = editor(`printf 'bad \\377 byte' > "$f"`);
    const result = await editExternally({ data: Buffer.from('ok'), hex: false, editor: ed });
    expect(result).toEqual({ kind: 'edited', data: Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0x20, 0x62, 0x79, 0x74, 0x65]), changed: true, validUtf8: false });
  });

  it('binary as hex; a non-zero exit cancels; bad hex cancels', async () => {
    const ed = editor(`sed -i 's/00 01/ff ee/' "$f"`);
    expect(await editExternally({ data: Buffer.from([0, 1, 2]), hex: true, editor: ed })).toMatchObject({ kind: 'edited', data: Buffer.from([0xff, 0xee, 2]) });
    expect(await editExternally({ data: Buffer.from('x'), hex: false, editor: editor('exit 3') })).toEqual({ kind: 'cancelled', why: 'the editor exited with status 3' });
    expect(await editExternally({ data: Buffer.from([1]), hex: true, editor: editor(`echo zz >> "$f"`) })).toMatchObject({ kind: 'cancelled', why: expect.stringMatching(/not hex/) });
  });

  it('hex round trip and editor choice', () => {
    const data = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
    expect(fromHexText(toHexText(data))).toEqual({ data });
    expect(fromHexText('abc')).toEqual({ error: 'an odd number of hex digits' });
    expect(editorCommand({ VISUAL: 'code --wait', EDITOR: 'nano' })).toBe('code --wait');
    expect(editorCommand({ EDITOR: 'nano' })).toBe('nano');
    expect(editorCommand({})).toBe('vi');
  });
});
