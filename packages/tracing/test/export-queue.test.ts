import { afterEach, describe, expect, it } from 'vitest';
import { setLogger, ThreadlineRequestError, TraceExportQueue, type ExportResult, type FinishedTrace, type TraceExporter } from '@threadline/tracing';
import { recordingLogger } from './support/sdk-setup.js';

const fakeTrace = (n: number): FinishedTrace => ({
  traceId: `tr-${n.toString(16).padStart(32, '0')}`,
  traceInfo: (experimentId) => ({ trace_id: `tr-${n}`, trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } } }),
  spanJson: () => [],
  spans: [],
});

/** An exporter whose answers the test scripts: `fail(n, kind)` fails the next n calls. */
class ScriptedExporter implements TraceExporter {
  readonly exported: string[] = [];
  calls = 0;
  private failures: { kind: ConstructorParameters<typeof ThreadlineRequestError>[0]; retryAfterMillis?: number }[] = [];
  gate: Promise<void> | undefined;

  fail(times: number, kind: ConstructorParameters<typeof ThreadlineRequestError>[0], retryAfterMillis?: number): this {
    for (let i = 0; i < times; i++) this.failures.push({ kind, ...(retryAfterMillis !== undefined && { retryAfterMillis }) });
    return this;
  }

  async export(traces: readonly FinishedTrace[]): Promise<ExportResult> {
    this.calls++;
    if (this.gate) await this.gate;
    const failure = this.failures.shift();
    if (failure) {
      const error = new ThreadlineRequestError(failure.kind, `scripted ${failure.kind}`, failure.retryAfterMillis === undefined ? {} : { retryAfterMillis: failure.retryAfterMillis });
      return { code: 'FAILED', failures: traces.map((trace) => ({ trace, error })) };
    }
    this.exported.push(...traces.map((t) => t.traceId));
    return { code: 'SUCCESS', failures: [] };
  }
  async shutdown(): Promise<void> {}
}

const fast = { scheduledDelayMillis: 0, initialBackoffMillis: 1, maxBackoffMillis: 5 };
let logger = recordingLogger();
afterEach(() => {
  logger = recordingLogger();
  setLogger(logger);
});
setLogger(logger);

describe('TraceExportQueue', () => {
  it('never holds more than maxQueueSize traces: drops the newest, counts them, logs once', async () => {
    const exporter = new ScriptedExporter();
    let release!: () => void;
    exporter.gate = new Promise((resolve) => (release = resolve));
    const queue = new TraceExportQueue(exporter, { ...fast, maxQueueSize: 5, maxExportBatchSize: 2 });
    let maxHeld = 0;
    for (let i = 0; i < 20; i++) {
      queue.enqueue(fakeTrace(i));
      const stats = queue.stats();
      maxHeld = Math.max(maxHeld, stats.queued + stats.inFlight);
    }
    expect(maxHeld).toBeLessThanOrEqual(5);
    expect(queue.stats().dropped).toBe(15);
    release();
    expect(await queue.flush(5000)).toBe(true);
    // The oldest five were kept, in order.
    expect(exporter.exported).toEqual([0, 1, 2, 3, 4].map((n) => fakeTrace(n).traceId));
    expect(logger.messages.filter((m) => m.message.includes('queue is full'))).toHaveLength(1);
  });

  it('retries transient failures with backoff until they succeed, logging the failure once and the recovery', async () => {
    const exporter = new ScriptedExporter().fail(4, 'server-error');
    const queue = new TraceExportQueue(exporter, fast);
    for (let i = 0; i < 3; i++) queue.enqueue(fakeTrace(i));
    expect(await queue.flush(5000)).toBe(true);
    expect(exporter.exported).toHaveLength(3);
    expect(queue.stats()).toMatchObject({ exported: 3, failed: 0, dropped: 0, queued: 0, consecutiveFailures: 0 });
    expect(queue.stats().retries).toBeGreaterThanOrEqual(4);
    expect(logger.messages.filter((m) => m.message.includes('server-error'))).toHaveLength(1);
    expect(logger.messages.filter((m) => m.message.includes('recovered'))).toHaveLength(1);
  });

  it('honours Retry-After over its own (here very long) backoff', async () => {
    const exporter = new ScriptedExporter().fail(1, 'rate-limited', 10);
    const queue = new TraceExportQueue(exporter, { scheduledDelayMillis: 0, initialBackoffMillis: 60_000, maxBackoffMillis: 60_000 });
    queue.enqueue(fakeTrace(1));
    expect(await queue.flush(10_000)).toBe(true);
    expect(exporter.calls).toBe(2);
  });

  it('drops traces the server rejects (4xx) without retrying, counting them as failed', async () => {
    const exporter = new ScriptedExporter().fail(1, 'rejected');
    const queue = new TraceExportQueue(exporter, fast);
    queue.enqueue(fakeTrace(1));
    expect(await queue.flush(5000)).toBe(true);
    expect(exporter.calls).toBe(1);
    expect(queue.stats()).toMatchObject({ exported: 0, failed: 1, retries: 0 });
  });

  it('gives a trace up after maxExportAttempts', async () => {
    const exporter = new ScriptedExporter().fail(100, 'unreachable');
    const queue = new TraceExportQueue(exporter, { ...fast, maxExportAttempts: 3 });
    queue.enqueue(fakeTrace(1));
    expect(await queue.flush(5000)).toBe(true);
    expect(exporter.calls).toBe(3);
    expect(queue.stats()).toMatchObject({ failed: 1, retries: 2 });
    expect(logger.messages.filter((m) => m.message.includes('Gave up'))).toHaveLength(1);
  });

  it('flush gives up at its timeout, keeping the traces queued; an exporter that throws is a transient failure', async () => {
    const exporter: TraceExporter = {
      export: () => Promise.reject(new Error('kaboom')),
      shutdown: async () => {},
    };
    const queue = new TraceExportQueue(exporter, { ...fast, maxExportAttempts: 1000 });
    queue.enqueue(fakeTrace(1));
    expect(await queue.flush(50)).toBe(false);
    expect(queue.stats().queued + queue.stats().inFlight).toBe(1);
    expect(logger.messages.some((m) => m.message.includes('kaboom'))).toBe(true);
    expect(logger.messages.filter((m) => m.message.includes('timed out'))).toHaveLength(1);
  });
});
