import { execFileSync } from 'node:child_process';
import { startEcho, load } from '/work/wt/spill/bench/relay.ts';
const size = Number(process.argv[2] ?? 64);
const tag = process.argv[3] ?? 'x';
const echo = await startEcho();
const port = 40000 + Math.floor(Math.random() * 20000);
const sock = `spill-prof-${process.pid}`;
const tmux = (...a: string[]) => execFileSync('tmux', ['-L', sock, '-f', '/dev/null', ...a]).toString();
tmux('new-session', '-d', '-s', 'p', '-x', '200', '-y', '50', `exec ${process.execPath} --cpu-prof --cpu-prof-dir=/tmp/spill-prof/${tag} /work/wt/spill/bin/frametap.js -u ${echo.url} -l 127.0.0.1:${port} --ui tui`);
const pid = Number(tmux('list-panes', '-t', 'p', '-F', '#{pane_pid}').trim());
await new Promise((r) => setTimeout(r, 4000));
await load(`ws://127.0.0.1:${port}`, size, 200, pid);
const s = await load(`ws://127.0.0.1:${port}`, size, size > 1000 ? 800 : 1500, pid);
console.log(tag, size, s);
tmux('send-keys', '-t', 'p', 'q');
await new Promise((r) => setTimeout(r, 3000));
try { tmux('kill-server'); } catch {}
await echo.close();
