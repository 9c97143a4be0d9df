// Where the benchmark cases put their shared-memory window files. Run by bench/run.ts: a
// directory under /dev/shm the runner made for this run (VMSG_BENCH_SHM) and removes however it
// ends, so a case killed mid-run (or a C peer it started, outliving it) leaves no window behind.
// Run directly: /dev/shm itself, each case removing its own files as before.
export const BENCH_SHM_ENV = 'VMSG_BENCH_SHM';

export const shmDir: string = process.env[BENCH_SHM_ENV] ?? '/dev/shm';
