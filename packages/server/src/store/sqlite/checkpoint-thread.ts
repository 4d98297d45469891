import { Worker } from 'node:worker_threads';

/** Plain JavaScript, so the same path works from src/ (vitest) and dist/ (as search-worker.js). */
const WORKER_URL = new URL('./checkpoint-worker.js', import.meta.url);

/** How often the thread copies the WAL into the database file. */
const CHECKPOINT_INTERVAL_MILLIS = 250;
/** A thread that failed is started again after this long; the store's backstop covers the gap. */
const RESTART_DELAY_MILLIS = 1_000;

/**
 * Pages the store's own connection lets the WAL reach before it checkpoints itself, on the event
 * loop: only if the checkpoint thread has stopped or cannot keep up (~80 MiB of 4 KiB pages).
 */
export const BACKSTOP_AUTOCHECKPOINT_PAGES = 20_000;

/**
 * Checkpoints of a SQLite store's WAL on a thread of its own. Left to SQLite, the writing
 * connection checkpoints at the commit that takes the WAL past 1,000 pages: a synchronous copy
 * (and fsync) of every page in it, during which the event loop serves nothing; under ingest that
 * was a commit in five, a third of all commit time (bench/ingest/page-writes.js). Here the copy
 * runs beside the event loop, every {@link CHECKPOINT_INTERVAL_MILLIS}; a page written several
 * times between two checkpoints is copied once.
 */
export class CheckpointThread {
  private worker?: Worker;
  private closed = false;
  private restartTimer?: NodeJS.Timeout;

  constructor(private readonly path: string) {
    this.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Kept alive until the thread has closed its connection: a command that ends with close()
    // would otherwise exit with this wait unsettled.
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  private start(): void {
    const worker = new Worker(WORKER_URL, { workerData: { path: this.path, intervalMillis: CHECKPOINT_INTERVAL_MILLIS } });
    this.worker = worker;
    // The thread's timer alone must not keep a server that is otherwise done alive.
    worker.unref();
    // Errors end the thread; 'exit' follows and starts another.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      if (this.closed) return;
      this.restartTimer = setTimeout(() => {
        if (!this.closed) this.start();
      }, RESTART_DELAY_MILLIS);
      this.restartTimer.unref();
    });
  }
}
