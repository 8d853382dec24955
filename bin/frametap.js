#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so `npx frametap` works right after `npm ci`
// with no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
await runCli(process.argv.slice(2));
