// The body of a wrap worker thread (see wrap-pool.ts): parses one program per message, off the main event loop.
import { parentPort } from 'node:worker_threads';
import { wrapUserCode } from './wrap.js';

parentPort?.on('message', (task: { id: number; code: string }) => {
  parentPort?.postMessage({ id: task.id, result: wrapUserCode(task.code) });
});
