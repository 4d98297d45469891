import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTraces, getExportStats, init, ThreadlineClient, trace, type ExportStats } from '@threadline/tracing';
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

/** Points the SDK at the proxy with a small queue, fast retries and a short request timeout. */
function initAgainstProxy(requestTimeoutMillis = 100) {
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
