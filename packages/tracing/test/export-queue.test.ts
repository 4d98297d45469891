import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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

// Timers and Date.now are the queue's only clock: faked here, the waits are exact and instant.
describe('TraceExportQueue retry timing (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Advances the fake clock by `millis` and returns how many export calls were made so far. */
  const after = async (exporter: ScriptedExporter, millis: number) => {
    await vi.advanceTimersByTimeAsync(millis);
    return exporter.calls;
  };

  it('draws each wait between half its exponential ceiling and the ceiling (the jitter)', async () => {
    for (const [random, firstWait, secondWait] of [[() => 0, 250, 500], [() => 1, 500, 1000]] as const) {
      const exporter = new ScriptedExporter().fail(2, 'unreachable');
      const queue = new TraceExportQueue(exporter, { scheduledDelayMillis: 0, initialBackoffMillis: 500, random });
      queue.enqueue(fakeTrace(1));
      expect(await after(exporter, 0)).toBe(1);
      expect(await after(exporter, firstWait - 1)).toBe(1);
      expect(await after(exporter, 1)).toBe(2);
      expect(await after(exporter, secondWait - 1)).toBe(2);
      expect(await after(exporter, 1)).toBe(3);
      expect(queue.stats()).toMatchObject({ exported: 1, consecutiveFailures: 0 });
    }
  });

  it('waits out its own backoff floor even when the server says Retry-After: 0', async () => {
    const exporter = new ScriptedExporter().fail(1, 'server-error', 0);
    const queue = new TraceExportQueue(exporter, { scheduledDelayMillis: 0, initialBackoffMillis: 1000, maxBackoffMillis: 1000, random: () => 0 });
    queue.enqueue(fakeTrace(1));
    expect(await after(exporter, 0)).toBe(1);
    expect(await after(exporter, 499)).toBe(1);
    expect(await after(exporter, 1)).toBe(2);
    expect(queue.stats().exported).toBe(1);
  });

  it('honours a Retry-After longer than its own backoff, up to maxBackoffMillis', async () => {
    const exporter = new ScriptedExporter().fail(1, 'rate-limited', 5000).fail(1, 'server-error', 3_600_000);
    const queue = new TraceExportQueue(exporter, { scheduledDelayMillis: 0, initialBackoffMillis: 100, maxBackoffMillis: 10_000, random: () => 0 });
    queue.enqueue(fakeTrace(1));
    expect(await after(exporter, 0)).toBe(1);
    // Its own wait would be 50 ms: the server's 5 s wins.
    expect(await after(exporter, 4999)).toBe(1);
    expect(await after(exporter, 1)).toBe(2);
    // An hour is cut to maxBackoffMillis.
    expect(await after(exporter, 9999)).toBe(2);
    expect(await after(exporter, 1)).toBe(3);
    expect(queue.stats().exported).toBe(1);
  });

  it.each([
    ['shortest', () => 0],
    ['longest', () => 1],
  ])('with the defaults, keeps a trace through 4 minutes of outage and gives it up within 8.5 (%s jitter)', async (_, random) => {
    const exporter = new ScriptedExporter().fail(1000, 'unreachable');
    const queue = new TraceExportQueue(exporter, { random });
    queue.enqueue(fakeTrace(1));
    // The first attempt goes after scheduledDelayMillis (200 ms).
    expect(await after(exporter, 200)).toBe(1);
    await vi.advanceTimersByTimeAsync(4 * 60_000);
    expect(queue.stats()).toMatchObject({ failed: 0, queued: 1 });
    await vi.advanceTimersByTimeAsync(4.5 * 60_000);
    expect(queue.stats()).toMatchObject({ failed: 1, queued: 0 });
    expect(exporter.calls).toBe(22);
  });

  it('giving a trace up is no recovery: the next traces keep backing off and the outage is not logged again', async () => {
    const exporter = new ScriptedExporter().fail(1000, 'unreachable');
    const queue = new TraceExportQueue(exporter, {
      scheduledDelayMillis: 0,
      maxExportBatchSize: 1,
      initialBackoffMillis: 1000,
      maxBackoffMillis: 1000,
      maxExportAttempts: 2,
      random: () => 0,
    });
    queue.enqueue(fakeTrace(1));
    queue.enqueue(fakeTrace(2));
    expect(await after(exporter, 0)).toBe(1);
    expect(await after(exporter, 500)).toBe(2);
    expect(queue.stats()).toMatchObject({ failed: 1, consecutiveFailures: 2 });
    // Trace 2 waits for the backoff too, rather than going at once with the backoff reset.
    expect(await after(exporter, 499)).toBe(2);
    expect(await after(exporter, 1)).toBe(3);
    expect(logger.messages.filter((m) => m.message.includes('recovered'))).toHaveLength(0);
    expect(logger.messages.filter((m) => m.level === 'warn' && m.message.includes('(unreachable)'))).toHaveLength(1);
  });
});
