import { ErrorCode } from '@threadline/protocol';
import { Worker } from 'node:worker_threads';
import { ApiError } from '../../errors.js';
import { searchTimeLimitError } from '../../query/time-limit.js';

export interface SearchThreadsOptions {
  /** The database file; each thread opens it read-only. */
  path: string;
  /** The name searches call the time-limit function by. */
  timeLimitFunction: string;
  /** Threads that run searches at once. */
  threads: number;
  /** How long one search may run. */
  timeLimitMillis: number;
  /** Searches that may wait for a thread; past that a search is a 503. */
  maxWaiting: number;
}

/**
 * How long past its time limit a search may go on before its thread is stopped from outside. The
 * time-limit function stops a statement between rows; this catches one stuck inside a single row
 * (RE2 over tens of MiB with a large pattern) or a thread still starting.
 */
const HARD_STOP_GRACE_MILLIS = 2_000;

/** Plain JavaScript, so the same path works from src/ (vitest) and dist/. */
const WORKER_URL = new URL('./search-worker.js', import.meta.url);

interface Job {
  sql: string;
  parameters: readonly unknown[];
  resolve(rows: unknown[]): void;
  reject(error: unknown): void;
}

interface Thread {
  worker: Worker;
  running?: Job & { id: number; timer: NodeJS.Timeout };
  /** Stopped or failed: it takes no more work and is replaced once it has exited. */
  retired: boolean;
}

type Answer = { id: number; rows: unknown[] } | { id: number; error: { message: string; timedOut: boolean } };

/**
 * Runs SQLite searches on worker threads, each with its own read-only connection (WAL lets them
 * read while the store writes), so that no search blocks the event loop: /health, ingest and
 * other requests go on while one runs. Each search has a time limit, checked per row by the
 * statement itself (search-functions.js) and, as a last resort, by stopping its thread, which
 * interrupts JavaScript (RE2 is JavaScript) wherever it is.
 *
 * @example
 * const threads = new SearchThreads({ path: 'threadline.db', timeLimitFunction: TIME_LIMIT_FUNCTION, threads: 2, timeLimitMillis: 10_000, maxWaiting: 64 });
 * const rows = await threads.run('SELECT trace_id FROM traces WHERE threadline_within_time_limit() AND ...', [1]);
 */
export class SearchThreads {
  private readonly threads = new Set<Thread>();
  private readonly idle: Thread[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: SearchThreadsOptions) {}

  /** The rows of one read-only statement, or a 400 when it ran past its time limit. */
  run(sql: string, parameters: readonly unknown[]): Promise<unknown[]> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    const threadFree = this.idle.length > 0 || this.threads.size < this.options.threads;
    if (!threadFree && this.waiting.length >= this.options.maxWaiting) {
      return Promise.reject(
        new ApiError(ErrorCode.TEMPORARILY_UNAVAILABLE, `Too many searches at once: ${this.waiting.length} are waiting for one of ${this.options.threads} search threads. Try again shortly.`),
      );
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ sql, parameters, resolve, reject });
      this.dispatch();
    });
  }

  /** Stops every thread; searches still waiting or running fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Error('the store is closed'));
    const stopping = [...this.threads].map((thread) => {
      this.fail(thread, new Error('the store is closed'));
      return thread.worker.terminate();
    });
    this.threads.clear();
    await Promise.all(stopping);
  }

  private dispatch(): void {
    while (this.waiting.length > 0 && !this.closed) {
      const thread = this.idle.pop() ?? (this.threads.size < this.options.threads ? this.spawn() : undefined);
      if (!thread) return;
      const job = this.waiting.shift()!;
      const id = this.nextId++;
      const timer = setTimeout(() => this.stopRunaway(thread), this.options.timeLimitMillis + HARD_STOP_GRACE_MILLIS);
      thread.running = { ...job, id, timer };
      // Only a thread with work keeps the process alive.
      thread.worker.ref();
      thread.worker.postMessage({ id, sql: job.sql, parameters: job.parameters, timeLimitMillis: this.options.timeLimitMillis });
    }
  }

  private spawn(): Thread {
    const worker = new Worker(WORKER_URL, { workerData: { path: this.options.path, timeLimitFunction: this.options.timeLimitFunction } });
    const thread: Thread = { worker, retired: false };
    this.threads.add(thread);
    worker.on('message', (answer: Answer) => this.answer(thread, answer));
    // A thread that fails on its own (its database gone, out of memory) fails its search.
    worker.on('error', (error) => this.retire(thread, error));
    worker.on('exit', () => {
      this.fail(thread, new Error('a search thread exited'));
      this.threads.delete(thread);
      const idle = this.idle.indexOf(thread);
      if (idle >= 0) this.idle.splice(idle, 1);
      this.dispatch();
    });
    return thread;
  }

  private answer(thread: Thread, answer: Answer): void {
    const job = thread.running;
    if (!job || job.id !== answer.id) return;
    clearTimeout(job.timer);
    thread.running = undefined;
    if ('rows' in answer) job.resolve(answer.rows);
    else job.reject(answer.error.timedOut ? searchTimeLimitError(this.options.timeLimitMillis) : new Error(`SQLite search failed: ${answer.error.message}`));
    if (!thread.retired) {
      thread.worker.unref();
      this.idle.push(thread);
    }
    this.dispatch();
  }

  /** Past its time limit and the grace: the search is answered now and its thread stopped. */
  private stopRunaway(thread: Thread): void {
    this.retire(thread, searchTimeLimitError(this.options.timeLimitMillis));
  }

  /**
   * Fails the thread's search and stops the thread. Its replacement starts only once it has
   * exited ('exit' above), so that no more than `threads` searches ever use the CPU: SQLite's own
   * loops (a LIKE inside one huge value) run on until they next call into JavaScript.
   */
  private retire(thread: Thread, error: unknown): void {
    if (thread.retired) return;
    thread.retired = true;
    this.fail(thread, error);
    void thread.worker.terminate();
  }

  private fail(thread: Thread, error: unknown): void {
    const job = thread.running;
    if (!job) return;
    clearTimeout(job.timer);
    thread.running = undefined;
    job.reject(error);
  }
}
