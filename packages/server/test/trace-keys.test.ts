import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { migrateToLatest } from '../src/store/migrations/migrations.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { llmSpan, traceRecord } from './support/store-inputs.js';
import { undoTraceKeys } from './support/undo-migrations.js';

/**
 * Traces are numbered in arrival order (`traces.trace_key`, migration 015), and their metadata,
 * tags (015), spans and LLM calls (016) and text documents (017) are keyed by that number: what
 * a trace shows, and which traces a word search finds, are unchanged, on a new database and on
 * one migrated with traces in it.
 */
describeEachDatabase('trace keys', (database) => {
  let db: TestStore;
  beforeEach(async () => {
    db = await database.open();
  });
  afterEach(async () => {
    await db.close();
  });

  const keysOf = async (traceIds: readonly string[]) => {
    const rows = await db.store.db.selectFrom('traces').select(['trace_id', 'trace_key']).where('trace_id', 'in', [...traceIds]).execute();
    const byId = new Map(rows.map((r) => [r.trace_id, Number(r.trace_key)]));
    return traceIds.map((id) => byId.get(id)!);
  };
  const rowsOf = async (table: 'trace_metadata' | 'trace_tags' | 'spans' | 'llm_calls' | 'trace_text_docs', traceKey: number) =>
    Number((await db.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('trace_key', '=', traceKey).executeTakeFirstOrThrow()).n);

  /** Three traces with metadata, tags and a priced LLM span, one more tag set later: their ids, in the order logged. */
  const logThree = async () => {
    const ids = [newTraceId(), newTraceId(), newTraceId()];
    for (const [i, traceId] of ids.entries()) {
      const record = traceRecord({ traceId, user: `user-${i}`, session: `session-${i}`, metadata: { 'app.version': `1.${i}` }, tags: { fruit: FRUITS[i]! } });
      expect((await db.store.startTrace(record)).kind).toBe('created');
      const span = llmSpan(traceId, record.requestTimeMs, record.requestTimeMs + 10, 'OK', 100 * (i + 1), 'gpt-4o-mini');
      span.attributes['mlflow.spanInputs'] = `a question about ${FRUITS[i]}s`;
      expect(await db.store.logSpans(traceId, [span])).toEqual({ kind: 'stored' });
    }
    await db.store.setTraceTag(ids[1]!, 'reviewed', 'yes');
    return ids;
  };
  const FRUITS = ['apple', 'pear', 'plum'];
  const found = async (words: string) =>
    (await db.store.searchTraces({ experimentIds: ['0'], filter: `trace.text MATCH '${words}'`, maxResults: 100 })).traces.map((t) => t.traceId).sort();
  const shown = async (traceIds: readonly string[]) =>
    Promise.all(traceIds.map(async (id) => {
      const trace = (await db.store.getTrace(id))!;
      const spanCosts = (await db.store.spanCosts([id])).get(id);
      return { metadata: trace.metadata, tags: trace.tags, cost: trace.cost, spans: await db.store.getSpans(id), spanCosts: spanCosts && Object.fromEntries(spanCosts) };
    }));

  it('numbers traces as they arrive, and keeps each trace its own metadata, tags, spans and calls', async () => {
    const ids = await logThree();
    const keys = await keysOf(ids);
    expect(keys[0]).toBeLessThan(keys[1]!);
    expect(keys[1]).toBeLessThan(keys[2]!);
    const [first, second, third] = await shown(ids);
    expect(first!.metadata).toMatchObject({ 'mlflow.trace.user': 'user-0', 'app.version': '1.0' });
    expect(second!.tags).toMatchObject({ fruit: 'pear', reviewed: 'yes' });
    expect(third!.tags).not.toHaveProperty('reviewed');
    // Each trace's own span and priced call: the input tokens differ per trace (100, 200, 300).
    expect([first, second, third].map((t) => t!.spans.map((s) => s.spanId))).toEqual(ids.map((id) => [id.slice(-16)]));
    expect([first, second, third].map((t) => JSON.parse(t!.spans[0]!.contentJson).attributes['mlflow.chat.tokenUsage'])).toEqual(
      [100, 200, 300].map((n) => JSON.stringify({ input_tokens: n, output_tokens: 1, total_tokens: n + 1 })),
    );
    const costs = [first, second, third].map((t) => t!.cost!.total_cost);
    expect(costs[0]).toBeGreaterThan(0);
    expect(costs[1]).toBeGreaterThan(costs[0]!);
    expect(costs[2]).toBeGreaterThan(costs[1]!);
    expect(second!.spanCosts).toEqual({ [ids[1]!.slice(-16)]: second!.cost });
    expect(await found('pears')).toEqual([ids[1]]);
    expect(await found('question')).toEqual([...ids].sort());
    // A tag removed from one trace leaves the others' alone.
    expect(await db.store.deleteTraceTag(ids[1]!, 'fruit')).toBe(true);
    expect((await shown(ids)).map((t) => t.tags.fruit)).toEqual(['apple', undefined, 'plum']);
    // A deleted trace takes its rows with it.
    await db.store.deleteTraces({ experimentId: '0', traceIds: [ids[0]!] });
    expect(await found('question')).toEqual(ids.slice(1).sort());
    for (const table of ['trace_metadata', 'trace_tags', 'spans', 'llm_calls', 'trace_text_docs'] as const) {
      expect(await rowsOf(table, keys[0]!)).toBe(0);
      expect(await rowsOf(table, keys[2]!)).toBeGreaterThan(0);
    }
    expect((await shown(ids.slice(1))).map((t) => t.spans.length)).toEqual([1, 1]);
  });

  it('is given to the traces already stored when the migration runs, in the order they were stored', async () => {
    const ids = await logThree();
    const before = await shown(ids);
    const wordsFound = [await found('plums'), await found('question')];
    const kysely = db.store.db as unknown as Kysely<unknown>;
    await undoTraceKeys(kysely, database.name);
    const schema = database.name === 'postgres' ? (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(kysely)).rows[0]!.s : undefined;
    await migrateToLatest(kysely, { dialect: database.name, ...(schema ? { schema } : {}) });

    const keys = await keysOf(ids);
    expect([...keys].sort((a, b) => a - b)).toEqual(keys);
    expect(await shown(ids)).toEqual(before);
    expect([await found('plums'), await found('question')]).toEqual(wordsFound);
    expect(wordsFound[0]).toEqual([ids[2]]);
    // A trace logged after the migration is numbered after them, on both databases.
    const [later] = await logThree();
    expect((await keysOf([later!]))[0]).toBeGreaterThan(Math.max(...keys));
  });
});
