import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.js';
import { percentileOfBins } from '../src/store/trace-metrics.js';
import { describeEachDatabase, sqliteDatabase } from './support/databases.js';
import { startTraceBody } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

describe('web UI serving', () => {
  let dist: string;
  beforeAll(() => {
    dist = mkdtempSync(join(tmpdir(), 'threadline-ui-'));
    mkdirSync(join(dist, 'assets'));
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Threadline</title>');
    writeFileSync(join(dist, 'assets', 'app-1a2b.js'), 'console.log(1)');
  });
  afterAll(() => rmSync(dist, { recursive: true, force: true }));

  it('serves the build, falls back to index.html for client routes, and never shadows the API', async () => {
    const opened = await sqliteDatabase.open();
    const app = await createApp({ store: opened.store, ui: { distDir: dist } });
    try {
      const root = await app.inject({ method: 'GET', url: '/' });
      expect(root.statusCode).toBe(200);
      expect(root.headers['content-type']).toMatch(/text\/html/);
      expect(root.headers['content-security-policy']).toContain("script-src 'self'");
      const route = await app.inject({ method: 'GET', url: '/experiments/0/sessions/it%27s%20a%20session?x=1' });
      expect(route.statusCode).toBe(200);
      expect(route.body).toContain('<title>Threadline</title>');
      const asset = await app.inject({ method: 'GET', url: '/assets/app-1a2b.js' });
      expect(asset.headers['content-type']).toMatch(/javascript/);
      expect(asset.headers['cache-control']).toContain('immutable');
      expect((await app.inject({ method: 'GET', url: '/assets/old-build.js' })).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: '/assets/../../etc/passwd' })).body).not.toContain('root:');
      for (const url of ['/api/2.0/mlflow/nope', '/ajax-api/3.0/nope', '/v1/nope']) {
        const r = await app.inject({ method: 'GET', url });
        expect(r.statusCode, url).toBe(404);
        expect(r.json().error_code).toBe('ENDPOINT_NOT_FOUND');
      }
      expect((await app.inject({ method: 'GET', url: '/health' })).body).toBe('OK');
    } finally {
      await app.close();
      await opened.close();
    }
  });

  it('says how to build the UI when it is not built', async () => {
    const opened = await sqliteDatabase.open();
    const app = await createApp({ store: opened.store, ui: { distDir: join(dist, 'missing') } });
    try {
      const root = await app.inject({ method: 'GET', url: '/' });
      expect(root.statusCode).toBe(503);
      expect(root.body).toContain('npm run build -w @threadline/ui');
    } finally {
      await app.close();
      await opened.close();
    }
  });
});

describe('latency percentiles from the histogram', () => {
  it('interpolates inside a bin and is null without data', () => {
    expect(percentileOfBins([], 0.5)).toBeNull();
    const counts = new Array(80).fill(0);
    counts[0] = 10; // all under 1 ms
    expect(percentileOfBins(counts, 0.5)).toBeCloseTo(0.5, 1);
  });
});

describeEachDatabase('POST /api/threadline/traces/metrics', (database) => {
  const t = useTestApp(database);
  const T0 = Date.parse('2026-11-20T00:00:00Z');
  const HOUR = 3_600_000;
  beforeAll(async () => {
    const traces: [number, string, string, 'OK' | 'ERROR', number][] = [
      [0, 'u1', 's1', 'OK', 100],
      [10, 'u1', 's1', 'ERROR', 200],
      [HOUR + 5, 'u2', 's2', 'OK', 1000],
      [HOUR + 6, 'u1', 's3', 'OK', 3000],
      [5 * HOUR, 'u3', 's4', 'OK', 50], // outside the range asked
    ];
    for (const [i, [offset, user, session, state, ms]] of traces.entries()) {
      const body = startTraceBody({
        traceId: `tr-${String(i).padStart(32, '0')}`, user, session, state,
        requestTime: new Date(T0 + offset).toISOString(), executionDuration: `${ms / 1000}s`,
        metadata: { 'mlflow.trace.tokenUsage': JSON.stringify({ input_tokens: 10, output_tokens: 5, total_tokens: 15 }) },
      });
      expect((await t.post('/api/3.0/mlflow/traces', body)).statusCode).toBe(200);
    }
  });

  it('counts traces, errors and tokens per bucket, with latency percentiles', async () => {
    const r = await t.post('/api/threadline/traces/metrics', { experiment_id: '0', start_time_ms: T0, end_time_ms: T0 + 3 * HOUR, bucket_ms: HOUR });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.buckets.map((b: { traces: number }) => b.traces)).toEqual([2, 2, 0]);
    expect(body.buckets.map((b: { errors: number }) => b.errors)).toEqual([1, 0, 0]);
    expect(body.buckets[0].total_tokens).toBe(30);
    expect(body.buckets[0].time_ms).toBe(T0);
    expect(body.buckets[2].latency_p50_ms).toBeNull();
    // Bins are 20% wide: the estimate stays within that of the true value.
    expect(body.buckets[1].latency_p99_ms).toBeGreaterThan(2500);
    expect(body.buckets[1].latency_p99_ms).toBeLessThanOrEqual(3600);
    expect(body.buckets[0].latency_p50_ms).toBeGreaterThan(80);
    expect(body.buckets[0].latency_p50_ms).toBeLessThanOrEqual(200);
  });

  it('groups by user or session (busiest first) and filters to one user', async () => {
    const byUser = (await t.post('/api/threadline/traces/metrics', { experiment_id: '0', start_time_ms: T0, end_time_ms: T0 + 3 * HOUR, bucket_ms: HOUR, group_by: 'user' })).json();
    expect(byUser.groups.map((g: { key: string; traces: number }) => [g.key, g.traces])).toEqual([['u1', 3], ['u2', 1]]);
    expect(byUser.groups[0].series.map((p: { traces: number }) => p.traces)).toEqual([2, 1, 0]);
    const bySession = (await t.post('/api/threadline/traces/metrics', { experiment_id: '0', start_time_ms: T0, end_time_ms: T0 + 3 * HOUR, bucket_ms: HOUR, group_by: 'session', max_groups: 1 })).json();
    expect(bySession.groups.map((g: { key: string }) => g.key)).toEqual(['s1']);
    // Only the groups: the same groups, without the buckets of all traces.
    const groupsOnly = (await t.post('/api/threadline/traces/metrics', { experiment_id: '0', start_time_ms: T0, end_time_ms: T0 + 3 * HOUR, bucket_ms: HOUR, group_by: 'user', groups_only: true })).json();
    expect(groupsOnly.groups).toEqual(byUser.groups);
    expect(groupsOnly.buckets).toEqual([]);
    expect(byUser.buckets).toHaveLength(3);
    const one = (await t.post('/api/threadline/traces/metrics', { experiment_id: '0', start_time_ms: T0, end_time_ms: T0 + 3 * HOUR, bucket_ms: HOUR, user_id: 'u2' })).json();
    expect(one.buckets.map((b: { traces: number }) => b.traces)).toEqual([0, 1, 0]);
  });

  it('refuses bad ranges, too many buckets, unknown groupings and experiments', async () => {
    const bad = async (body: Record<string, unknown>, status = 400) => {
      const r = await t.post('/api/threadline/traces/metrics', { experiment_id: '0', start_time_ms: T0, end_time_ms: T0 + HOUR, ...body });
      expect(r.statusCode, JSON.stringify(body)).toBe(status);
      return r.json().message as string;
    };
    expect(await bad({ end_time_ms: T0 })).toMatch(/must be after/);
    expect(await bad({ bucket_ms: 1 })).toMatch(/more than 1000 buckets/);
    expect(await bad({ group_by: 'model' })).toMatch(/'user' or 'session'/);
    expect(await bad({ groups_only: true })).toMatch(/'groups_only' needs 'group_by'/);
    expect(await bad({ group_by: 'user', groups_only: 'yes' })).toMatch(/'groups_only': it must be true or false/);
    await bad({ experiment_id: '999' }, 404);
  });
});
