/**
 * `npm run bench [-- NAME...]`: runs the benchmarks one after another (all by default).
 * Each prints its own table; figures are ratios measured side by side in one run, because the
 * machines here are shared and noisy.
 */
const BENCHES: Readonly<Record<string, () => Promise<{ main(): Promise<void> }>>> = {
  decoder: () => import('./decoder.js'),
  relay: () => import('./relay.js'),
  'pcap-read': () => import('./pcap-read.js'),
  dashboard: () => import('./dashboard.js'),
  'dashboard-app': () => import('./dashboard-app.js'),
  memory: () => import('./memory.js'),
  forward: () => import('./forward.js'),
  'view-memory': () => import('./view-memory.js'),
  'inflate-wait': () => import('./inflate-wait.js'),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !Object.hasOwn(BENCHES, name));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')} (soak: node bin/run-ts.js bench/soak.ts)\n`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
  process.stdout.write(`\n## bench/${name}\n\n`);
  const mod = await BENCHES[name]!();
  await mod.main();
}
