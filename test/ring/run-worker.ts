// Starts a worker script from ./workers with its data; `done` settles with the one message it
// reports, or rejects when it fails or exits before reporting.
import { Worker } from 'node:worker_threads';

export function runWorker(script: string, data: Record<string, unknown>): { done: Promise<Record<string, unknown>>; worker: Worker } {
  const worker = new Worker(new URL(`./workers/${script}`, import.meta.url), { workerData: data });
  const done = new Promise<Record<string, unknown>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${script} exited with ${code} before reporting`)));
  });
  return { done, worker };
}
