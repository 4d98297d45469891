import { afterAll, beforeAll, expect, it } from 'vitest';
import { HOUR_MS, queryTraceMetrics, type TraceMetricsQuery } from '../src/store/trace-metrics.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { random } from './support/random.js';
import { llmSpan } from './support/store-inputs.js';

const DAY0 = Date.UTC(2026, 10, 2);
const USERS = 70;

/**
 * The busiest and costliest users and sessions of a range (the overview's groups and top
 * spenders), found from the all-time totals of `users` and `sessions` as bounds (metric-groups.ts
 * `rankedByBound`), against the same groups counted from every trace of the range. More keys
 * than one batch of candidates; all-time leaders who are quiet in some ranges; equal counts.
 */
describeEachDatabase('top users and sessions of a range', (database) => {
  let db: TestStore;
  let experimentId = '';

  beforeAll(async () => {
    db = await database.open();
    experimentId = await db.store.createExperiment({ name: `groups-${newTraceId()}`, tags: {} });
    const next = random(20261206);
    const log = async (user: string, session: string, startMs: number, tokens: number) => {
      const traceId = `tr-${newTraceId()}`;
      await db.store.ingestSpans(experimentId, traceId, { metadata: { 'mlflow.trace.user': user, 'mlflow.trace.session': session }, tags: {}, name: null }, [
        llmSpan(traceId, startMs, startMs + 40, next() < 0.1 ? 'ERROR' : 'OK', tokens, 'gpt-4o-mini'),
      ]);
    };
    const writes: Promise<void>[] = [];
    for (let u = 0; u < USERS; u++) {
      // Skewed: a few users hold most traces; the busiest of all time are busy on day 0 only.
      const traces = Math.max(1, Math.round(30 / (u + 1)));
      const days = u < 5 ? 1 : 3;
      for (let i = 0; i < traces; i++) {
        const startMs = DAY0 + Math.floor(next() * days * 24 * HOUR_MS);
        writes.push(log(`user-${String(u).padStart(2, '0')}`, `s-${u}-${i % 3}`, startMs, 100 + Math.floor(next() * 5_000)));
      }
    }
    // Equal in everything but their ids, in the order a collation decides.
    for (const user of ['tie-B', 'tie-a', 'tie-b']) writes.push(log(user, `s-${user}`, DAY0 + 36 * HOUR_MS, 40_000));
    await Promise.all(writes);
  });
  afterAll(async () => db.close());

  it('are the same whether ranked by the all-time bounds or counted from every trace', async () => {
    const ranges: Omit<TraceMetricsQuery, 'experimentId'>[] = [
      { startTimeMs: DAY0, endTimeMs: DAY0 + 3 * 24 * HOUR_MS, bucketMs: 3 * 24 * HOUR_MS },
      { startTimeMs: DAY0 - 1, endTimeMs: DAY0 + 3 * 24 * HOUR_MS + 7, bucketMs: 6 * HOUR_MS },
      // The all-time leaders are quiet here.
      { startTimeMs: DAY0 + 30 * HOUR_MS + 12_345, endTimeMs: DAY0 + 70 * HOUR_MS, bucketMs: 40 * HOUR_MS },
      { startTimeMs: DAY0 + 24 * HOUR_MS, endTimeMs: DAY0 + 48 * HOUR_MS, bucketMs: HOUR_MS },
    ];
    let compared = 0;
    for (const range of ranges) {
      for (const groupBy of ['user', 'session'] as const) {
        for (const orderGroupsBy of ['traces', 'cost'] as const) {
          for (const maxGroups of [1, 3, 8, 40]) {
            const q = { experimentId, ...range, groupBy, orderGroupsBy, maxGroups };
            const counted = await queryTraceMetrics(db.store.db, q, { rollups: false });
            expect(await queryTraceMetrics(db.store.db, q), JSON.stringify(q)).toEqual(counted);
            expect(counted.groups!.length).toBeGreaterThan(0);
            compared++;
          }
        }
      }
    }
    expect(compared).toBe(64);
    // The ties are ranked in the database's order of their ids, as the counted groups are.
    const ties = await queryTraceMetrics(db.store.db, { experimentId, startTimeMs: DAY0 + 36 * HOUR_MS, endTimeMs: DAY0 + 37 * HOUR_MS, bucketMs: HOUR_MS, groupBy: 'user', orderGroupsBy: 'cost', maxGroups: 3 });
    expect(ties.groups!.map((g) => g.key).sort()).toEqual(['tie-B', 'tie-a', 'tie-b']);
  });
});
