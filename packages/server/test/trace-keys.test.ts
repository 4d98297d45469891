import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { migrateToLatest } from '../src/store/migrations/migrations.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { traceRecord } from './support/store-inputs.js';
import { undoTraceKeys } from './support/undo-migrations.js';

/**
 * Traces are numbered in arrival order (`traces.trace_key`, migration 015), and their metadata
 * and tags are keyed by that number: what a trace shows is unchanged, on a new database and on
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
  const keyValueRows = async (table: 'trace_metadata' | 'trace_tags', traceKey: number) =>
    Number((await db.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('trace_key', '=', traceKey).executeTakeFirstOrThrow()).n);

  /** Three traces with metadata and tags, one more tag set later: their ids, in the order logged. */
  const logThree = async () => {
    const ids = [newTraceId(), newTraceId(), newTraceId()];
    for (const [i, traceId] of ids.entries()) {
      const record = traceRecord({ traceId, user: `user-${i}`, session: `session-${i}`, metadata: { 'app.version': `1.${i}` }, tags: { fruit: ['apple', 'pear', 'plum'][i]! } });
      expect((await db.store.startTrace(record)).kind).toBe('created');
    }
    await db.store.setTraceTag(ids[1]!, 'reviewed', 'yes');
    return ids;
  };
  const shown = async (traceIds: readonly string[]) =>
    Promise.all(traceIds.map(async (id) => {
      const trace = (await db.store.getTrace(id))!;
      return { metadata: trace.metadata, tags: trace.tags };
    }));

  it('numbers traces as they arrive, and keeps each trace its own metadata and tags', async () => {
    const ids = await logThree();
    const keys = await keysOf(ids);
    expect(keys[0]).toBeLessThan(keys[1]!);
    expect(keys[1]).toBeLessThan(keys[2]!);
    const [first, second, third] = await shown(ids);
    expect(first!.metadata).toMatchObject({ 'mlflow.trace.user': 'user-0', 'app.version': '1.0' });
    expect(second!.tags).toMatchObject({ fruit: 'pear', reviewed: 'yes' });
    expect(third!.tags).not.toHaveProperty('reviewed');
    // A tag removed from one trace leaves the others' alone.
    expect(await db.store.deleteTraceTag(ids[1]!, 'fruit')).toBe(true);
    expect((await shown(ids)).map((t) => t.tags.fruit)).toEqual(['apple', undefined, 'plum']);
    // A deleted trace takes its rows with it.
    await db.store.deleteTraces({ experimentId: '0', traceIds: [ids[0]!] });
    expect(await keyValueRows('trace_metadata', keys[0]!)).toBe(0);
    expect(await keyValueRows('trace_tags', keys[0]!)).toBe(0);
    expect(await keyValueRows('trace_tags', keys[2]!)).toBeGreaterThan(0);
  });

  it('is given to the traces already stored when the migration runs, in the order they were stored', async () => {
    const ids = await logThree();
    const before = await shown(ids);
    const kysely = db.store.db as unknown as Kysely<unknown>;
    await undoTraceKeys(kysely, database.name);
    const schema = database.name === 'postgres' ? (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(kysely)).rows[0]!.s : undefined;
    await migrateToLatest(kysely, { dialect: database.name, ...(schema ? { schema } : {}) });

    const keys = await keysOf(ids);
    expect([...keys].sort((a, b) => a - b)).toEqual(keys);
    expect(await shown(ids)).toEqual(before);
    // A trace logged after the migration is numbered after them, on both databases.
    const [later] = await logThree();
    expect((await keysOf([later!]))[0]).toBeGreaterThan(Math.max(...keys));
  });
});
