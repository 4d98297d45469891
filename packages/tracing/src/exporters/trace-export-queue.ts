import { OnceLog } from '../logger.js';
import { ExportBackoff } from './export-backoff.js';
import { ExportResultCode, ThreadlineRequestError, type ExportFailure, type ExportResult, type FinishedTrace, type TraceExporter } from './trace-exporter.js';

/** Options of the export queue. All optional; the defaults suit a web app. */
export interface ExportQueueOptions {
  /** Finished traces held at most (waiting or being retried). Past it, new traces are dropped and counted. Default 2048. */
  maxQueueSize?: number;
  /** Traces per `export` call. Default 64. */
  maxExportBatchSize?: number;
  /** How long a finished trace may wait for others to batch with. Default 200 ms. */
  scheduledDelayMillis?: number;
  /**
   * Ceiling of the first wait after a transient failure, doubled per export call that fails in a
   * row; each wait is drawn between half its ceiling and the ceiling. Default 500 ms.
   */
  initialBackoffMillis?: number;
  /** Longest wait between attempts, a server's Retry-After included. Default 30 000 ms. */
  maxBackoffMillis?: number;
  /**
   * Attempts per trace before it is given up (counted in `failed`). Default 22: with the default
   * backoff, the waits between them add up to at least 4 minutes (about 8 at most), so a trace
   * outlasts a 4-minute outage whatever the jitter and whatever Retry-After the server sends.
   */
  maxExportAttempts?: number;
  /** Source of the backoff's jitter, returning numbers in [0, 1). Default `Math.random` (tests pass a fixed one). */
  random?: () => number;
  /** Default timeout of `flush()`. Default 10 000 ms. */
  flushTimeoutMillis?: number;
}

/** Counters of the export queue, for dashboards and tests. */
export interface ExportStats {
  /** Traces waiting now (including those waiting for a retry). */
  queued: number;
  /** Traces in the export call running now. */
  inFlight: number;
  /** Traces the exporter accepted. */
  exported: number;
  /** Traces refused because the queue was full. */
  dropped: number;
  /** Traces given up: rejected by the server (4xx) or out of attempts. */
  failed: number;
  /** Retries scheduled after transient failures. */
  retries: number;
  /** Export calls in a row that had transient failures (0 when healthy). */
  consecutiveFailures: number;
  /** The bound on `queued + inFlight`. */
  maxQueueSize: number;
}

interface Entry {
  trace: FinishedTrace;
  attempts: number;
}

interface FlushWaiter {
  pending: Set<Entry>;
  resolve(drained: boolean): void;
}

/**
 * The queue between finished traces and an exporter, kept off the application's path: `enqueue` is
 * O(1) and never throws or blocks; batches go out on timers (unref'd, so they never keep a process
 * alive on their own); transient failures (unreachable, timeout, 408, 429, 5xx) are retried with
 * exponential backoff and jitter (`ExportBackoff`), waiting at least what the server's Retry-After
 * asks but never less than the backoff's floor nor more than `maxBackoffMillis`; the queue never
 * holds more than `maxQueueSize` traces. When full it drops the NEWEST traces (as OpenTelemetry's
 * batch processor does): what is queued keeps its order and its retries, and the drop is counted.
 * Each kind of failure is logged once until an export succeeds again.
 *
 * @example
 * const queue = new TraceExportQueue(new MlflowRestExporter({ trackingUri }), { maxQueueSize: 500 });
 * queue.enqueue(trace);
 * await queue.flush(5000);
 * queue.stats().dropped;
 */
export class TraceExportQueue {
  private readonly queue: Entry[] = [];
  private inFlight: Entry[] = [];
  private readonly maxQueueSize: number;
  private readonly batchSize: number;
  private readonly delayMillis: number;
  private readonly backoff: ExportBackoff;
  private readonly maxAttempts: number;
  private readonly flushTimeoutMillis: number;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private backoffUntil = 0;
  private flushing = 0;
  private closed = false;
  private readonly waiters: FlushWaiter[] = [];
  private readonly once = new OnceLog();
  private counts = { exported: 0, dropped: 0, failed: 0, retries: 0, consecutiveFailures: 0 };

  constructor(
    readonly exporter: TraceExporter,
    options: ExportQueueOptions = {},
  ) {
    this.maxQueueSize = Math.max(1, options.maxQueueSize ?? 2048);
    this.batchSize = Math.max(1, Math.min(options.maxExportBatchSize ?? 64, this.maxQueueSize));
    this.delayMillis = Math.max(0, options.scheduledDelayMillis ?? 200);
    this.backoff = new ExportBackoff(options);
    this.maxAttempts = Math.max(1, options.maxExportAttempts ?? 22);
    this.flushTimeoutMillis = options.flushTimeoutMillis ?? 10_000;
  }

  /** Queues a finished trace for export. Never throws; a trace that does not fit is dropped and counted. */
  enqueue(trace: FinishedTrace): void {
    if (this.closed || this.queue.length + this.inFlight.length >= this.maxQueueSize) {
      this.counts.dropped++;
      this.once.log(
        'queue-full',
        'warn',
        this.closed
          ? 'A trace finished after the exporter was shut down; it is dropped.'
          : `The trace export queue is full (${this.maxQueueSize} traces): new traces are dropped and counted in getExportStats().dropped until the tracking server keeps up again.`,
      );
      return;
    }
    this.queue.push({ trace, attempts: 0 });
    if (this.inFlight.length === 0) this.schedule(this.queue.length >= this.batchSize ? 0 : this.delayMillis);
  }

  /** A snapshot of the counters. */
  stats(): ExportStats {
    return { queued: this.queue.length, inFlight: this.inFlight.length, ...this.counts, maxQueueSize: this.maxQueueSize };
  }

  /**
   * Exports every trace queued or in flight now, retrying transient failures (backoff still applies),
   * and resolves `true` once all of them are exported or given up, or `false` after `timeoutMillis`
   * (they stay queued). Never rejects. Keeps the process alive while it waits.
   */
  flush(timeoutMillis: number = this.flushTimeoutMillis): Promise<boolean> {
    const pending = new Set<Entry>([...this.inFlight, ...this.queue]);
    if (pending.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      this.flushing++;
      const timeout = setTimeout(() => finish(false), Math.max(0, timeoutMillis));
      const waiter: FlushWaiter = { pending, resolve: (drained) => finish(drained) };
      const finish = (drained: boolean) => {
        clearTimeout(timeout);
        const index = this.waiters.indexOf(waiter);
        if (index === -1) return;
        this.waiters.splice(index, 1);
        this.flushing--;
        if (!drained) {
          this.once.log('flush-timeout', 'warn', `flushTraces() timed out after ${timeoutMillis} ms with ${waiter.pending.size} traces not yet exported; they stay queued.`);
        }
        resolve(drained);
      };
      this.waiters.push(waiter);
      if (this.inFlight.length === 0) this.schedule(0);
    });
  }

  /** Flushes, then refuses new traces and shuts the exporter down. */
  async shutdown(timeoutMillis: number = this.flushTimeoutMillis): Promise<void> {
    await this.flush(timeoutMillis);
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      await this.exporter.shutdown();
    } catch (error) {
      this.once.log('shutdown', 'warn', 'The trace exporter failed to shut down.', error);
    }
  }

  /** Runs the next export after `delayMillis` (or when the current backoff ends, if later). */
  private schedule(delayMillis: number): void {
    if (this.closed) return;
    const now = Date.now();
    const due = Math.max(now + delayMillis, this.backoffUntil);
    if (this.timer !== undefined) {
      if (this.timerDue <= due) return;
      clearTimeout(this.timer);
    }
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      void this.exportBatch();
    }, due - now);
    // Only a flush (whose own timer is ref'd) keeps the process alive for exports.
    this.timer.unref();
  }

  /**
   * Exports batches back to back while full ones are waiting (or a flush is), so a busy application
   * never outruns the timer; then waits for the next timer.
   */
  private async exportBatch(): Promise<void> {
    if (this.inFlight.length > 0) return;
    while (this.queue.length > 0 && !this.closed) {
      await this.exportOne(this.queue.splice(0, this.batchSize));
      const more = this.flushing > 0 || this.queue.length >= this.batchSize;
      if (!more || this.backoffUntil > Date.now()) break;
    }
    if (this.queue.length > 0) this.schedule(this.flushing > 0 || this.queue.length >= this.batchSize ? 0 : this.delayMillis);
  }

  private async exportOne(batch: Entry[]): Promise<void> {
    this.inFlight = batch;
    let result: ExportResult;
    try {
      result = await this.exporter.export(batch.map((entry) => entry.trace));
      if (result === undefined || (result.code !== ExportResultCode.SUCCESS && !Array.isArray(result.failures))) {
        throw new Error('the exporter returned no ExportResult');
      }
    } catch (error) {
      // A buggy exporter: treat the whole batch as failed, transiently.
      const failure = new ThreadlineRequestError('server-error', `The trace exporter threw: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      result = { code: ExportResultCode.FAILED, failures: batch.map((entry) => ({ trace: entry.trace, error: failure })) };
    }
    this.inFlight = [];
    this.settle(batch, result.failures ?? []);
  }

  private settle(batch: Entry[], failures: ExportFailure[]): void {
    const failed = new Map<FinishedTrace, ThreadlineRequestError>();
    for (const failure of failures) failed.set(failure.trace, failure.error);
    const retry: Entry[] = [];
    const done: Entry[] = [];
    // Whether the server (or the network) failed transiently, even for traces now given up.
    let transient = false;
    let retryAfterMillis: number | undefined;
    for (const entry of batch) {
      const error = failed.get(entry.trace);
      if (error === undefined) {
        this.counts.exported++;
        done.push(entry);
        continue;
      }
      entry.attempts++;
      if (error.retryable) {
        transient = true;
        if (error.retryAfterMillis !== undefined) retryAfterMillis = Math.max(retryAfterMillis ?? 0, error.retryAfterMillis);
      }
      if (error.retryable && entry.attempts < this.maxAttempts) {
        retry.push(entry);
        this.once.log(error.kind, 'warn', `Trace export failing (${error.kind}): ${error.message}. Retrying with backoff; not logged again until an export succeeds.`);
      } else {
        this.counts.failed++;
        done.push(entry);
        if (error.retryable) {
          this.once.log('gave-up', 'error', `Gave up exporting trace ${entry.trace.traceId} after ${entry.attempts} attempts (${error.kind}): ${error.message}. Further given-up traces are counted in getExportStats().failed.`);
        } else if (error.kind === 'unauthorized') {
          this.once.log(
            error.kind,
            'error',
            `The tracking server refused the credentials (HTTP ${error.status ?? '401/403'}): traces are dropped, not retried, and counted in getExportStats().failed; not logged again. Check trackingServerToken (MLFLOW_TRACKING_TOKEN) or trackingServerUsername / trackingServerPassword. ${error.message}`,
          );
        } else {
          this.once.log(error.kind, 'error', `Trace ${entry.trace.traceId} could not be exported and is dropped (${error.kind}): ${error.message}`);
        }
      }
    }
    if (retry.length > 0) {
      this.counts.retries += retry.length;
      this.queue.unshift(...retry);
      // Retries go first; if that overflows the bound, the newest traces go.
      while (this.queue.length > this.maxQueueSize) {
        done.push(this.queue.pop()!);
        this.counts.dropped++;
      }
    }
    if (transient) {
      // Also when every failing trace was given up: the outage goes on, so the next batch waits
      // out the backoff too, rather than finding the backoff reset and the outage "recovered".
      this.counts.consecutiveFailures++;
      this.backoffUntil = Date.now() + this.backoff.delayMillis(this.counts.consecutiveFailures, retryAfterMillis);
    } else {
      if (this.counts.consecutiveFailures > 0) {
        this.once.reset();
        this.once.log('recovered', 'info', `Trace export recovered after ${this.counts.consecutiveFailures} failed attempts.`);
        this.once.reset();
      }
      this.counts.consecutiveFailures = 0;
      this.backoffUntil = 0;
    }
    this.release(done);
  }

  /** Entries that left the queue for good: wake the flushes that were waiting for them. */
  private release(entries: Entry[]): void {
    if (this.waiters.length === 0 || entries.length === 0) return;
    for (const waiter of [...this.waiters]) {
      for (const entry of entries) waiter.pending.delete(entry);
      if (waiter.pending.size === 0) waiter.resolve(true);
    }
  }
}
