/**
 * Rollup maintenance under real concurrency: two store instances on one PostgreSQL schema (two
 * server replicas), many writes of the same few sessions and users in flight at once. The mix is
 * the one that deadlocked: OTLP batches whose root arrives after its children (and so moves the
 * trace's time and gives it its user and session), re-logs that move `request_time`, identical
 * retries, span uploads and deletes, all interleaved. No write may fail, and every rollup must
 * equal a recount of the traces. SQLite runs the same mix through one store (one writer).
 *
 * Feedback joins the mix: on traces (created before an OTLP root gives the trace its user and
 * session, its value changed, overridden, the override deleted, deleted) and on whole sessions
 * (whose users change as traces come and go), from both replicas; the feedback rollups must equal
 * a recount from the assessments.
 *
 * Cost joins it too: LLM spans of models priced by an operator, by the bundled table, by their own
 * cost or not at all, and a re-pricing after a price change, running alongside the writes; trace
 * costs and the cost rollups (sessions, users, hours, models) must equal a recount of the calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../src/errors.js';
import { TraceNotFoundError, type KyselyTraceStore } from '../src/store/kysely-store.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { AssessmentInput, SpanRecord, TraceRecord } from '../src/trace-model.js';
import { createPostgresSchema, POSTGRES_URL, postgresOk } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { random } from './support/random.js';
import { recountedRollups, storedRollups } from './support/rollup-recount.js';
import { feedbackInput } from './support/store-inputs.js';
import { mapConcurrent } from './support/server-process.js';

const BASE = Date.UTC(2026, 10, 23, 10);
const SESSIONS = 4;
const USERS = 3;

interface Replicas {
  stores: [KyselyTraceStore, KyselyTraceStore];
  close(): Promise<void>;
}

/** One step of the workload: a store call, labelled for the failure message. */
type Step = { label: string; run: () => Promise<unknown>; mayBeGone?: boolean };

function span(o: { id: string; parent: string | null; remote?: boolean; startMs: number; endMs: number; status?: 'OK' | 'ERROR'; tokens?: number; name: string }): SpanRecord {
  return {
    spanId: o.id,
    parentSpanId: o.parent,
    ...(o.remote ? { parentIsRemote: true as const } : {}),
    name: o.name,
    type: o.tokens !== undefined ? 'LLM' : 'CHAIN',
    status: o.status ?? 'OK',
    statusMessage: '',
    startNs: BigInt(o.startMs) * 1_000_000n,
    endNs: BigInt(o.endMs) * 1_000_000n,
    attributes: {
      'mlflow.spanInputs': { q: `${o.name}?` },
      'mlflow.spanOutputs': { a: `${o.name}!` },
      ...(o.tokens !== undefined ? { 'mlflow.chat.tokenUsage': { input_tokens: o.tokens, output_tokens: 1, total_tokens: o.tokens + 1 } } : {}),
      ...(o.tokens !== undefined ? { 'mlflow.llm.model': MODELS[o.tokens % MODELS.length] } : {}),
      ...(o.tokens !== undefined && o.tokens % 5 === 0 ? { 'mlflow.llm.cost': { total_cost: o.tokens / 1000 } } : {}),
    },
    events: [],
  };
}

/** Priced by an operator (PRICES), by the bundled table, and by nothing (unpriced). */
const MODELS = ['acme-large', 'acme-small', 'gpt-4o-mini', 'mystery-model'] as const;
const PRICES = [
  { model: 'acme-large', inputPerMtok: 3, outputPerMtok: 15, cacheReadPerMtok: null, cacheWritePerMtok: null, updatedTimeMs: BASE, updatedBy: 'test' },
  { model: 'acme-small', inputPerMtok: 0.2, outputPerMtok: 0.8, cacheReadPerMtok: null, cacheWritePerMtok: null, updatedTimeMs: BASE, updatedBy: 'test' },
];

/** Values whose sums are exact in floating point. */
const FEEDBACK_VALUES: readonly unknown[] = [true, false, 'yes', 'No', 3, 4.5, 'meh', false];

/**
 * Feedback on a trace, or on a session, from both replicas in turn: created, and then by `i` its
 * value changed, overridden, the override deleted, the first deleted.
 */
function feedbackSteps(
  label: string,
  i: number,
  [first, second]: [KyselyTraceStore, KyselyTraceStore],
  api: {
    create(store: KyselyTraceStore, input: AssessmentInput): Promise<{ assessmentId: string }>;
    update(store: KyselyTraceStore, id: string, value: unknown): Promise<unknown>;
    remove(store: KyselyTraceStore, id: string): Promise<unknown>;
  },
): Step[] {
  let created: string | undefined;
  let override: string | undefined;
  const name = i % 3 === 2 ? 'helpful' : 'user_satisfaction';
  const steps: Step[] = [
    { label: `feedback ${label}`, mayBeGone: true, run: async () => (created = (await api.create(first, feedbackInput(name, FEEDBACK_VALUES[i % FEEDBACK_VALUES.length]))).assessmentId) },
  ];
  const then = (what: string, run: () => Promise<unknown>) => steps.push({ label: `${what} ${label}`, mayBeGone: true, run: async () => (created ? run() : undefined) });
  if (i % 3 === 0) then('feedback value', () => api.update(second, created!, FEEDBACK_VALUES[(i + 3) % FEEDBACK_VALUES.length]));
  if (i % 4 === 0) then('override', async () => (override = (await api.create(second, feedbackInput(name, i % 2 === 0 ? 'no' : 2, created!))).assessmentId));
  if (i % 8 === 0) then('delete override', async () => override && api.remove(first, override));
  if (i % 5 === 0) then('delete feedback', () => api.remove(second, created!));
  return steps;
}

/**
 * The workload: per trace a short sequence of calls that must run in order (the way one client
 * sends one trace), the sequences of many traces and the deletes run concurrently.
 */
function workload(experimentId: string, replicas: Replicas, count: number): Step[][] {
  const traceFeedback = (traceId: string, i: number, stores: [KyselyTraceStore, KyselyTraceStore]) =>
    feedbackSteps(traceId, i, stores, {
      create: (store, input) => store.createAssessment(traceId, input),
      update: (store, id, value) => store.updateAssessment(traceId, id, { value: { kind: 'feedback', value, error: null } }),
      remove: (store, id) => store.deleteAssessment(traceId, id),
    });
  const next = random(20261124);
  const [a, b] = replicas.stores;
  const ids: string[] = [];
  const sequences: Step[][] = [];
  for (let i = 0; i < count; i++) {
    const traceId = newTraceId();
    ids.push(traceId);
    const hex = traceId.slice(3);
    const session = `sess-${i % SESSIONS}`;
    const user = `user-${Math.floor(next() * USERS)}`;
    const metadata = { 'mlflow.trace.session': session, 'mlflow.trace.user': user };
    const t = BASE + Math.floor(next() * 3 * 3_600_000);
    const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
    const steps: Step[] = [];
    if (i % 2 === 0) {
      // OTLP: children first, the root later, on the other replica; sometimes another process's
      // part of the trace (a remote-parent local root) before either.
      const root = span({ id: `${hex.slice(0, 15)}0`, parent: null, startMs: t, endMs: t + 900, status: next() < 0.2 ? 'ERROR' : 'OK', name: 'root' });
      const children = [
        span({ id: `${hex.slice(0, 15)}1`, parent: root.spanId, startMs: t + 100, endMs: t + 400, tokens: 10 + (i % 7), name: 'llm' }),
        span({ id: `${hex.slice(0, 15)}2`, parent: root.spanId, startMs: t + 450, endMs: t + 800, name: 'tool' }),
      ];
      const remote = span({ id: `${hex.slice(0, 15)}3`, parent: root.spanId, remote: true, startMs: t + 200, endMs: t + 300, tokens: 3, name: 'remote' });
      const userOnRootOnly = i % 3 === 0;
      const childFields = { metadata: userOnRootOnly ? {} : metadata, tags: {}, name: null };
      if (i % 5 === 0) steps.push({ label: `otlp local root ${traceId}`, run: () => second.ingestSpans(experimentId, traceId, { metadata: {}, tags: {}, name: null }, [remote]) });
      steps.push({ label: `otlp children ${traceId}`, run: () => first.ingestSpans(experimentId, traceId, childFields, children) });
      // Before the root: a trace without user or session yet, on every third trace.
      steps.push(...traceFeedback(traceId, i, [first, second]));
      steps.push({ label: `otlp root ${traceId}`, run: () => second.ingestSpans(experimentId, traceId, { metadata, tags: {}, name: null }, [root]) });
      if (i % 4 === 1 || i % 4 === 2) steps.push({ label: `otlp root retry ${traceId}`, run: () => first.ingestSpans(experimentId, traceId, { metadata, tags: {}, name: null }, [root]) });
    } else {
      // MLflow: logged IN_PROGRESS, then finished at another time (a move), its spans uploaded,
      // an identical retry, and sometimes a retry that would move it again.
      const record: TraceRecord = {
        traceId,
        experimentId,
        clientRequestId: `req-${i}`,
        requestTimeMs: t,
        executionDurationMs: null,
        state: 'IN_PROGRESS',
        requestPreview: null,
        responsePreview: null,
        metadata,
        tags: {},
      };
      const finished: TraceRecord = {
        ...record,
        requestTimeMs: t - 500 - Math.floor(next() * 3_600_000),
        executionDurationMs: 200 + Math.floor(next() * 5000),
        state: next() < 0.2 ? 'ERROR' : 'OK',
        requestPreview: `q-${i}`,
        responsePreview: `a-${i}`,
      };
      const spans = [
        span({ id: `${hex.slice(0, 15)}0`, parent: null, startMs: finished.requestTimeMs, endMs: finished.requestTimeMs + 100, name: 'root' }),
        span({ id: `${hex.slice(0, 15)}1`, parent: `${hex.slice(0, 15)}0`, startMs: finished.requestTimeMs + 10, endMs: finished.requestTimeMs + 90, tokens: 5, name: 'llm' }),
      ];
      steps.push({ label: `start ${traceId}`, run: () => first.startTrace(record) });
      steps.push(...traceFeedback(traceId, i, [first, second]));
      steps.push({ label: `finish ${traceId}`, run: () => second.startTrace(finished) });
      steps.push({ label: `upload ${traceId}`, run: () => first.logSpans(traceId, spans, { experimentId }), mayBeGone: true });
      steps.push({ label: `retry ${traceId}`, run: () => first.startTrace(finished) });
      if (i % 3 === 1) steps.push({ label: `moved retry ${traceId}`, run: () => second.startTrace({ ...finished, requestTimeMs: finished.requestTimeMs + 7_000 }) });
    }
    sequences.push(steps);
    if (i % 5 === 3) {
      // Feedback on a whole session, whose users change while it is written.
      const sessionRef = { experimentId, sessionId: `sess-${(i >> 1) % SESSIONS}` };
      sequences.push(
        feedbackSteps(`session ${sessionRef.sessionId} #${i}`, i, [second, first], {
          create: (store, input) => store.createSessionAssessment(sessionRef, input),
          update: (store, id, value) => store.updateSessionAssessment(sessionRef, id, { value: { kind: 'feedback', value, error: null } }),
          remove: (store, id) => store.deleteSessionAssessment(sessionRef, id),
        }),
      );
    }
    if (i % 6 === 5) {
      // A few traces, some perhaps still being written, from anywhere in the workload so far.
      const victims = [ids[i]!, ids[Math.floor(next() * ids.length)]!, ids[Math.floor(next() * ids.length)]!];
      const store = i % 12 === 5 ? a : b;
      sequences.push([{ label: `delete ${victims.join(',')}`, run: () => store.deleteTraces({ experimentId, traceIds: victims }) }]);
    }
    if (i === Math.floor(count / 2)) {
      // A new price, then every stored trace priced again, while the writes go on.
      sequences.push([
        { label: 'price change', run: () => b.pricing.set({ ...PRICES[1]!, inputPerMtok: 0.5 }) },
        { label: 'reprice', run: () => b.pricing.reprice({ experimentId, fromMs: BASE - 2 * 3_600_000, toMs: BASE + 4 * 3_600_000, batchSize: 7 }) },
      ]);
      sequences.push([{ label: 'delete oldest 3', run: () => a.deleteTraces({ experimentId, maxTraces: 3, maxTimestampMillis: BASE + 3 * 3_600_000 }) }]);
      sequences.push([{ label: 'delete before 10:20', run: () => b.deleteTraces({ experimentId, maxTimestampMillis: BASE + 20 * 60_000 }) }]);
    }
  }
  return sequences;
}

/** Runs every sequence, `inFlight` at once, and answers every failure it saw. */
async function runAll(sequences: Step[][], inFlight: number): Promise<{ failures: string[]; summary: string }> {
  const failures: string[] = [];
  const codes = new Map<string, number>();
  await mapConcurrent(sequences, inFlight, async (steps) => {
    for (const step of steps) {
      try {
        await step.run();
      } catch (error) {
        // A span upload for a trace a concurrent delete removed is a 404, not a failure.
        // So is feedback on a trace, or a session, that a delete removed, or that has no trace yet.
        if (step.mayBeGone && (error instanceof TraceNotFoundError || (error instanceof ApiError && error.status === 404))) continue;
        const code = (error as { code?: string }).code;
        failures.push(`${step.label}: ${code ? `${code} ` : ''}${(error as Error).message}`);
        codes.set(code ?? 'other', (codes.get(code ?? 'other') ?? 0) + 1);
      }
    }
  });
  const steps = sequences.reduce((n, s) => n + s.length, 0);
  const summary = `${failures.length} of ${steps} calls failed (${[...codes].map(([code, n]) => `${code}: ${n}`).join(', ')}); the first:\n${failures.slice(0, 10).join('\n')}`;
  return { failures, summary };
}

function describeReplicas(name: string, skip: boolean, open: () => Promise<Replicas>): void {
  describe.skipIf(skip)(`rollups under concurrent writers [${name}]`, () => {
    let replicas: Replicas;
    beforeAll(async () => {
      replicas = await open();
    });
    afterAll(async () => replicas?.close());

    it('never deadlock or fail, and equal a recount, through OTLP root-last batches, moved re-logs, retries, deletes and feedback on traces and sessions', { timeout: 180_000 }, async () => {
      const [a] = replicas.stores;
      const experimentId = await a.createExperiment({ name: `concurrency-${newTraceId()}` });
      for (const price of PRICES) await a.pricing.set(price);
      const { failures, summary } = await runAll(workload(experimentId, replicas, 160), 24);
      expect(failures, summary).toEqual([]);
      const recount = await recountedRollups(a.db, Number(experimentId));
      // Not equal by being empty.
      expect(recount.sessions).toHaveLength(SESSIONS);
      expect(recount.users).toHaveLength(USERS);
      expect(recount.hours.length).toBeGreaterThan(3);
      const scopes = (scope: string) => recount.feedback.filter((r) => r.scope === scope);
      expect(scopes('session').length).toBeGreaterThan(2);
      expect(scopes('user').length).toBeGreaterThan(2);
      expect(scopes('hour').length).toBeGreaterThan(0);
      expect(recount.feedback.some((r) => Number(r.false_count) > 0 && Number(r.numeric_count) > 0)).toBe(true);
      const ownOfSessions = await a.db.selectFrom('assessments').select('assessment_id').where('trace_id', 'is', null).where('experiment_id', '=', Number(experimentId)).execute();
      expect(ownOfSessions.length).toBeGreaterThan(3);
      // Cost from every source: operator's prices, the table, spans' own, and unpriced calls.
      const sources = await a.db.selectFrom('llm_calls').select('cost_source').distinct().where('experiment_id', '=', Number(experimentId)).execute();
      expect(sources.map((r) => r.cost_source).sort()).toEqual(['custom', 'span', 'table', null].sort());
      expect([...new Set(recount.models.map((m) => m.model))].sort()).toEqual([...MODELS].sort());
      expect(recount.sessions.every((r) => Number(r.cost_nanos) > 0)).toBe(true);
      expect(await storedRollups(a.db, Number(experimentId))).toEqual(recount);
    });
  });
}

describeReplicas('postgres, two stores', !postgresOk, async () => {
  const { schema, drop } = await createPostgresSchema();
  const stores = await Promise.all([0, 1].map(() => openPostgresStore({ connectionString: POSTGRES_URL, schema, maxConnections: 8 })));
  return {
    stores: stores as [KyselyTraceStore, KyselyTraceStore],
    async close() {
      for (const store of stores) await store.close();
      await drop();
    },
  };
});

describeReplicas('sqlite, one store', false, async () => {
  const store = await openSqliteStore({ path: ':memory:' });
  return { stores: [store, store], close: () => store.close() };
});
