import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { flushTraces, getExportStats, init, ThreadlineClient, trace, type ExportStats, type InitOptions } from '@threadline/tracing';
import { FlakyProxy } from './support/flaky-proxy.js';
import { recordingLogger } from './support/sdk-setup.js';
import { startTrackingServer, type TestTrackingServer } from './support/tracking-server.js';

let server: TestTrackingServer;
let proxy: FlakyProxy;

beforeAll(async () => {
  server = await startTrackingServer();
  proxy = new FlakyProxy(server.url);
  await proxy.start();
});
afterAll(async () => {
  await proxy?.stop();
  await server?.close();
});

const MAX_QUEUE = 10;

/** Points the SDK at the proxy with a small queue, fast retries (unless `options` say otherwise) and a short request timeout. */
function initAgainstProxy(requestTimeoutMillis = 100, options: InitOptions = {}) {
  const logger = recordingLogger();
  init({
    trackingUri: proxy.url,
    experimentId: '0',
    logger,
    maxQueueSize: MAX_QUEUE,
    maxExportBatchSize: 4,
    scheduledDelayMillis: 0,
    initialBackoffMillis: 5,
    maxBackoffMillis: 20,
    maxExportAttempts: 10_000,
    requestTimeoutMillis,
    ...options,
  });
  return logger;
}

/**
 * Runs `count` traced calls tagged `label`, checking each returns its own value synchronously (no
 * waiting on the network) and that the queue never holds more than its bound.
 */
async function runTracedCalls(label: string, count: number): Promise<ExportStats> {
  const work = trace((i: number) => `${label}-${i}`, { name: label });
  let maxHeld = 0;
  for (let i = 0; i < count; i++) {
    expect(work(i)).toBe(`${label}-${i}`);
    const stats = getExportStats();
    maxHeld = Math.max(maxHeld, stats.queued + stats.inFlight);
    // Give the exporter a chance to run (and fail) between calls.
    if (i % 5 === 4) await new Promise((resolve) => setImmediate(resolve));
  }
  expect(maxHeld).toBeLessThanOrEqual(MAX_QUEUE);
  return getExportStats();
}

async function tracesNamed(name: string) {
  const client = new ThreadlineClient({ trackingUri: server.url });
  return (await client.searchTraces({ filter: `attributes.name = '${name}'`, maxResults: 500 })).traces;
}

describe('the application is unharmed when the tracking server misbehaves', () => {
  it('server down (connection refused): calls return, the queue stays bounded, drops are counted, traces arrive after recovery', async () => {
    await proxy.stop();
    const logger = initAgainstProxy();
    const stats = await runTracedCalls('while-down', 30);
    expect(stats.dropped).toBeGreaterThanOrEqual(30 - MAX_QUEUE);
    expect(await flushTraces({ timeoutMillis: 50 })).toBe(false);
    expect(logger.messages.filter((m) => m.message.includes('(unreachable)'))).toHaveLength(1);

    proxy.mode = 'pass';
    await proxy.start();
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
    const arrived = await tracesNamed('while-down');
    expect(arrived).toHaveLength(30 - getExportStats().dropped);
    expect(arrived.length).toBeGreaterThan(0);
    expect(getExportStats()).toMatchObject({ queued: 0, inFlight: 0, failed: 0 });
  });

  it('server slow (no reply within the timeout): calls return, failures are timeouts logged once, traces arrive after recovery', async () => {
    proxy.mode = 'slow';
    const logger = initAgainstProxy();
    const stats = await runTracedCalls('while-slow', 20);
    expect(stats.queued + stats.inFlight).toBeLessThanOrEqual(MAX_QUEUE);
    expect(await flushTraces({ timeoutMillis: 300 })).toBe(false);
    expect(proxy.seen.slow).toBeGreaterThan(0);
    expect(logger.messages.filter((m) => m.message.includes('(timeout)'))).toHaveLength(1);

    proxy.mode = 'pass';
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
    expect(await tracesNamed('while-slow')).toHaveLength(20 - getExportStats().dropped);
  });

  it('server answering 500 (and 429): calls return, one log line per kind, traces arrive after recovery', async () => {
    proxy.mode = 'error500';
    // The proxy answers at once here: a timeout long enough that a loaded machine adds no
    // timeouts (and a second recovery) to the failures under test.
    const logger = initAgainstProxy(5000);
    await runTracedCalls('while-500', 8);
    expect(await flushTraces({ timeoutMillis: 100 })).toBe(false);
    proxy.mode = 'rate-limited';
    await runTracedCalls('while-429', 2);
    expect(await flushTraces({ timeoutMillis: 100 })).toBe(false);
    expect(logger.messages.filter((m) => m.message.includes('(server-error)'))).toHaveLength(1);
    expect(logger.messages.filter((m) => m.message.includes('(rate-limited)'))).toHaveLength(1);

    proxy.mode = 'pass';
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
    expect(getExportStats()).toMatchObject({ exported: 10, dropped: 0, failed: 0 });
    expect(await tracesNamed('while-500')).toHaveLength(8);
    expect(await tracesNamed('while-429')).toHaveLength(2);
    expect(logger.messages.filter((m) => m.message.includes('recovered'))).toHaveLength(1);
  });

  it('an async traced call returns the same value and error with the server down', async () => {
    await proxy.stop();
    initAgainstProxy();
    const failure = new Error('app failure');
    const ok = trace(async (x: number) => x * 2, { name: 'async-ok' });
    const bad = trace(async () => {
      throw failure;
    }, { name: 'async-bad' });
    await expect(ok(21)).resolves.toBe(42);
    await expect(bad()).rejects.toBe(failure);
    proxy.mode = 'pass';
    await proxy.start();
  });
});

/** Resolves once `condition` holds (polled), or fails the test after `timeoutMillis`. */
async function waitFor(condition: () => boolean, timeoutMillis = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMillis} ms`);
    await sleep(5);
  }
}

describe('retry policy, against a real HTTP server', () => {
  // Traces of the tests above may still be queued: drain them, so that every request counted
  // below is one of this test's.
  beforeEach(async () => {
    proxy.mode = 'pass';
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
  });

  it('503 with Retry-After: 0 is retried no sooner than the backoff floor, not in a hot loop', async () => {
    proxy.mode = 'status';
    proxy.answer = { status: 503, retryAfter: '0' };
    // Every wait is drawn from [50, 100] ms: 50 ms is the floor, whatever the server asks for.
    const floorMillis = 50;
    const logger = initAgainstProxy(5000, { initialBackoffMillis: 100, maxBackoffMillis: 100 });
    const before = proxy.seen.status;
    const started = Date.now();
    await runTracedCalls('retry-after-0', 1);
    expect(await flushTraces({ timeoutMillis: 600 })).toBe(false);
    const requests = proxy.seen.status - before;
    const elapsed = Date.now() - started;
    // One request per floor at most in the window the test had (however long a loaded machine made
    // it), plus the first and a timer's rounding; obeying Retry-After: 0 sent hundreds.
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThanOrEqual(Math.floor(elapsed / floorMillis) + 2);
    expect(getExportStats()).toMatchObject({ failed: 0, dropped: 0 });
    expect(logger.messages.filter((m) => m.message.includes('(server-error)'))).toHaveLength(1);

    proxy.mode = 'pass';
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
    expect(await tracesNamed('retry-after-0')).toHaveLength(1);
  });

  it('a Retry-After above maxBackoffMillis is cut to it: the retry comes in time, not an hour later', async () => {
    proxy.mode = 'status';
    proxy.answer = { status: 503, retryAfter: '3600' };
    initAgainstProxy(5000, { initialBackoffMillis: 50, maxBackoffMillis: 100 });
    const before = proxy.seen.status;
    await runTracedCalls('retry-after-hour', 1);
    await waitFor(() => proxy.seen.status > before);
    proxy.mode = 'pass';
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
    expect(proxy.seen.status - before).toBe(1);
    expect(await tracesNamed('retry-after-hour')).toHaveLength(1);
  });

  it.each([
    [400, '(rejected)'],
    [404, '(rejected)'],
    [413, '(rejected)'],
    [415, '(rejected)'],
    [422, '(rejected)'],
    [401, 'refused the credentials (HTTP 401)'],
    [403, 'refused the credentials (HTTP 403)'],
  ])('%i is attempted exactly once per trace: dropped, counted, logged once as "%s"', async (status, logged) => {
    proxy.mode = 'status';
    // A Retry-After changes nothing: the same request would be refused again.
    proxy.answer = { status, retryAfter: '0' };
    const logger = initAgainstProxy(5000);
    const before = proxy.seen.status;
    await runTracedCalls(`refused-${status}`, 3);
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
    // One create-trace request per trace, none repeated.
    expect(proxy.seen.status - before).toBe(3);
    expect(getExportStats()).toMatchObject({ exported: 0, failed: 3, retries: 0 });
    const errors = logger.messages.filter((m) => m.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain(logged);
  });

  it.each([408, 429, 500, 502, 503, 504])('%i is retried until the server recovers', async (status) => {
    proxy.mode = 'status';
    proxy.answer = { status };
    initAgainstProxy(5000);
    const before = proxy.seen.status;
    await runTracedCalls(`transient-${status}`, 1);
    await waitFor(() => proxy.seen.status - before >= 2);
    proxy.mode = 'pass';
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
    expect(getExportStats()).toMatchObject({ exported: 1, failed: 0 });
    expect(await tracesNamed(`transient-${status}`)).toHaveLength(1);
  });
});
