import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrateToLatest } from '../src/store/migrations/migrations.js';
import { HOUR_MS, queryTraceMetrics, type TraceMetricsQuery } from '../src/store/trace-metrics.js';
import type { TraceRecord } from '../src/trace-model.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { random } from './support/random.js';
import { llmSpan } from './support/store-inputs.js';
import { undoTraceKeys } from './support/undo-migrations.js';

const DAY0 = Date.UTC(2026, 10, 1);
const DAYS = 3;

/** A re-log that repeats what a finished trace's info said. */
function sameInfo(stored: TraceRecord, again: TraceRecord): boolean {
  return stored.state === again.state && stored.requestTimeMs === again.requestTimeMs && stored.executionDurationMs === again.executionDurationMs;
}

describeEachDatabase('trace_hours rollup (the overview charts)', (database) => {
  let db: TestStore;
  let experimentId: string;
  const next = random(20261123);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const timeInRange = () => (next() < 0.1 ? DAY0 + Math.floor(next() * DAYS * 24) * HOUR_MS : DAY0 + Math.floor(next() * DAYS * 24 * HOUR_MS));
  const logged: string[] = [];

  beforeAll(async () => {
    db = await database.open();
    experimentId = await db.store.createExperiment({ name: `hours-${newTraceId()}`, tags: {} });
  });
  afterAll(async () => db.close());

  function traceRecord(traceId = newTraceId()): TraceRecord {
    const tokens = next() < 0.7 ? Math.floor(next() * 500) : undefined;
    const state = pick(['OK', 'OK', 'OK', 'ERROR', 'IN_PROGRESS'] as const);
    return {
      traceId,
      experimentId,
      clientRequestId: null,
      requestTimeMs: timeInRange(),
      executionDurationMs: state === 'IN_PROGRESS' ? null : Math.floor(next() ** 3 * 90_000),
      state,
      requestPreview: null,
      responsePreview: null,
      metadata: {
        'mlflow.trace.user': `user-${Math.floor(next() * 5)}`,
        'mlflow.trace.session': `session-${Math.floor(next() * 40)}`,
        ...(tokens !== undefined ? { 'mlflow.trace.tokenUsage': JSON.stringify({ input_tokens: tokens, output_tokens: 2, total_tokens: tokens + 2 }) } : {}),
      },
      tags: {},
    };
  }

  /** Every query shape the rollup serves, each answered through it and by scanning traces. */
  async function expectRollupToMatchScan(): Promise<void> {
    const shapes: Omit<TraceMetricsQuery, 'experimentId'>[] = [
      { startTimeMs: DAY0, endTimeMs: DAY0 + DAYS * 24 * HOUR_MS, bucketMs: HOUR_MS },
      { startTimeMs: DAY0 - 6 * HOUR_MS, endTimeMs: DAY0 + 4 * 24 * HOUR_MS, bucketMs: 12 * HOUR_MS },
      // A range ending mid-hour: whole hours from the rollup, the part-hour from traces.
      { startTimeMs: DAY0 + 5 * HOUR_MS, endTimeMs: DAY0 + 40 * HOUR_MS + 1_234_567, bucketMs: 3 * HOUR_MS },
      { startTimeMs: DAY0 + 24 * HOUR_MS, endTimeMs: DAY0 + 24 * HOUR_MS + 30 * 60_000, bucketMs: HOUR_MS },
      // Boundaries inside hours: the hours they cut are scanned, the others read from the rollup.
      { startTimeMs: DAY0 - 1_234_567, endTimeMs: DAY0 + 50 * HOUR_MS + 7, bucketMs: 2.5 * HOUR_MS },
      { startTimeMs: DAY0 + 600_000, endTimeMs: DAY0 + DAYS * 24 * HOUR_MS - 1, bucketMs: 12 * HOUR_MS },
      // So many cut hours that the range is scanned whole.
      { startTimeMs: DAY0 + 1, endTimeMs: DAY0 + 3 * 24 * HOUR_MS, bucketMs: HOUR_MS },
    ];
    for (const shape of shapes) {
      const q = { experimentId, ...shape };
      const scanned = await queryTraceMetrics(db.store.db, q, { rollups: false });
      expect(await queryTraceMetrics(db.store.db, q), JSON.stringify(shape)).toEqual(scanned);
      // The busiest and the costliest users and sessions, from user_hours / session_hours.
      for (const groupBy of ['user', 'session'] as const) {
        for (const orderGroupsBy of ['traces', 'cost'] as const) {
          const grouped = { ...q, groupBy, orderGroupsBy, maxGroups: 5 };
          const expected = await queryTraceMetrics(db.store.db, grouped, { rollups: false });
          expect(await queryTraceMetrics(db.store.db, grouped), JSON.stringify(grouped)).toEqual(expected);
        }
      }
    }
    // Not equal by being empty: the whole range holds every trace logged and not deleted.
    const all = await queryTraceMetrics(db.store.db, { experimentId, startTimeMs: DAY0, endTimeMs: DAY0 + DAYS * 24 * HOUR_MS, bucketMs: DAYS * 24 * HOUR_MS });
    const stored = await db.store.db.selectFrom('traces').select((eb) => eb.fn.countAll<number>().as('n')).where('experiment_id', '=', Number(experimentId)).executeTakeFirstOrThrow();
    expect(all.buckets[0]!.traces).toBe(Number(stored.n));
    expect(all.buckets[0]!.traces).toBeGreaterThan(0);
    expect(all.buckets[0]!.errors).toBeGreaterThan(0);
    expect(all.buckets[0]!.latencyP50Ms).not.toBeNull();
    const busiest = await queryTraceMetrics(db.store.db, { experimentId, startTimeMs: DAY0 + 1_000, endTimeMs: DAY0 + DAYS * 24 * HOUR_MS - 1_000, bucketMs: 12 * HOUR_MS, groupBy: 'session', maxGroups: 50 });
    expect(busiest.groups!.length).toBeGreaterThan(5);
    const withSession = await db.store.db
      .selectFrom('traces')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('experiment_id', '=', Number(experimentId))
      .where('session_id', 'is not', null)
      .where('request_time', '>=', DAY0 + 1_000)
      .where('request_time', '<', DAY0 + DAYS * 24 * HOUR_MS - 1_000)
      .executeTakeFirstOrThrow();
    expect(busiest.groups!.reduce((n, g) => n + g.traces, 0)).toBe(Number(withSession.n));
  }

  it('counts new traces, logged through the MLflow API and through span batches', async () => {
    for (let i = 0; i < 150; i++) {
      const record = traceRecord();
      logged.push(record.traceId);
      expect((await db.store.startTrace(record)).kind).toBe('created');
    }
    for (let i = 0; i < 60; i++) {
      const traceId = newTraceId();
      logged.push(traceId);
      const start = timeInRange();
      await db.store.ingestSpans(experimentId, traceId, { metadata: {}, tags: {}, name: null }, [llmSpan(traceId, start, start + Math.floor(next() * 5000), pick(['OK', 'ERROR'] as const), 7)]);
    }
    const hours = await db.store.db.selectFrom('trace_hours').select((eb) => eb.fn.sum<number>('trace_count').as('n')).where('experiment_id', '=', Number(experimentId)).executeTakeFirstOrThrow();
    expect(Number(hours.n)).toBe(210);
    await expectRollupToMatchScan();
  });

  it('moves a trace between hours, latency bins and states when it is logged again or gets spans', async () => {
    let moved = 0;
    for (const traceId of logged.slice(0, 40)) {
      // A re-log with the same metadata may change time, duration and state while the trace is
      // in progress; once it has finished, such a re-log is refused. Spans may bring tokens.
      const stored = (await db.store.getTrace(traceId))!;
      const again = { ...traceRecord(traceId), metadata: stored.metadata };
      const result = await db.store.startTrace(again);
      expect(result.kind).toBe(stored.state === 'IN_PROGRESS' ? 'updated' : sameInfo(stored, again) ? 'updated' : 'finished-conflict');
      if (result.kind === 'updated') moved++;
      if (again.metadata['mlflow.trace.tokenUsage'] === undefined) {
        await db.store.logSpans(traceId, [llmSpan(traceId, again.requestTimeMs, again.requestTimeMs + 10, 'OK', 11)]);
      }
    }
    expect(moved).toBeGreaterThan(3);
    for (const traceId of logged.slice(150, 180)) {
      // A later batch of the same trace widens its time span and may end it in error.
      const start = timeInRange();
      const spanId = `${traceId.slice(-15)}f`;
      await db.store.ingestSpans(experimentId, traceId, { metadata: {}, tags: {}, name: null }, [{ ...llmSpan(traceId, start, start + 70_000, 'ERROR', 3), spanId, parentSpanId: traceId.slice(-16) }]);
    }
    await expectRollupToMatchScan();
  });

  it('takes deleted traces away, by ids, by age and by count', async () => {
    await db.store.deleteTraces({ experimentId, traceIds: logged.filter((_, i) => i % 7 === 0) });
    await expectRollupToMatchScan();
    await db.store.deleteTraces({ experimentId, maxTimestampMillis: DAY0 + 12 * HOUR_MS });
    await expectRollupToMatchScan();
    await db.store.deleteTraces({ experimentId, maxTraces: 20 });
    await expectRollupToMatchScan();
  });

  it('is filled from the traces already stored when the migration runs on an existing database', async () => {
    const kysely = db.store.db as unknown as Kysely<unknown>;
    // The database as it was before 003: without its table, nor those of the migrations after it,
    // undone newest first (015 and 016, then the rest).
    await undoTraceKeys(kysely, db.store.dialect.name);
    for (const table of ['trace_hours', 'accounts', 'api_tokens', 'ui_sessions', 'experiment_permissions', 'audit_events', 'feedback_rollups']) await sql`DROP TABLE ${sql.table(table)}`.execute(kysely);
    await sql`DROP INDEX assessments_session`.execute(kysely);
    for (const column of ['experiment_id', 'session_id']) await sql`ALTER TABLE assessments DROP COLUMN ${sql.ref(column)}`.execute(kysely);
    // 006-cost.
    for (const table of ['llm_calls', 'model_hours', 'model_prices', 'erasures', 'leases']) await sql`DROP TABLE ${sql.table(table)}`.execute(kysely);
    for (const index of ['sessions_exp_cost', 'users_exp_cost']) await sql`DROP INDEX ${sql.ref(index)}`.execute(kysely);
    for (const [table, column] of [['traces', 'cost_nanos'], ['traces', 'unpriced_calls'], ['sessions', 'cost_nanos'], ['users', 'cost_nanos']] as const) {
      await sql`ALTER TABLE ${sql.table(table)} DROP COLUMN ${sql.ref(column)}`.execute(kysely);
    }
    // 009-redaction-rules.
    await sql`DROP TABLE experiment_redaction_rules`.execute(kysely);
    // 011-key-hours.
    for (const table of ['user_hours', 'session_hours']) await sql`DROP TABLE ${sql.table(table)}`.execute(kysely);
    // 010-trace-text.
    if (db.store.dialect.name === 'sqlite') for (const table of ['trace_text_vocab', 'trace_text_index', 'trace_text_pending']) await sql`DROP TABLE ${sql.table(table)}`.execute(kysely);
    // 014-text-documents-without-words.
    if (db.store.dialect.name === 'sqlite') await sql`ALTER TABLE spans DROP COLUMN text_doc`.execute(kysely);
    await sql`DROP TABLE trace_text_docs`.execute(kysely);
    // 012-unused-sqlite-indexes drops what 001 made.
    if (db.store.dialect.name === 'sqlite') {
      await sql`CREATE INDEX trace_metadata_key_value ON trace_metadata (key, value)`.execute(kysely);
      await sql`CREATE INDEX trace_tags_key ON trace_tags (key, trace_id)`.execute(kysely);
    }
    await sql`DELETE FROM threadline_migrations WHERE name >= '003-trace-hours'`.execute(kysely);
    const schema = db.store.dialect.name === 'postgres' ? (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(kysely)).rows[0]!.s : undefined;
    await migrateToLatest(kysely, { dialect: db.store.dialect.name, ...(schema ? { schema } : {}) });
    await expectRollupToMatchScan();
  });
});
