// Worker-thread entry: loads a TypeScript module (its URL in workerData.module) through tsx, as
// bin/frametap.js does for the main thread, so workers run the same sources with no build step.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.module);
