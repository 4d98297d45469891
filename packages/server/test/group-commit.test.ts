import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommitTransactions } from '../src/store/group-commit.js';
import { sqliteDatabase, type TestStore } from './support/databases.js';

describe('group commit on SQLite', () => {
  let opened: TestStore;
  beforeAll(async () => {
    opened = await sqliteDatabase.open();
    await sql`CREATE TABLE gc_probe (v integer NOT NULL)`.execute(opened.store.db);
  });
  afterAll(async () => opened.close());

  it('runs work queued by a caller the moment its previous unit was answered', async () => {
    const runner = new GroupCommitTransactions(opened.store.db);
    // Each run is queued from the continuation of the one before: right after its batch
    // resolved, before the flush that ran it had finished.
    for (let i = 0; i < 20; i++) expect(await runner.run(async (trx) => (await sql<{ n: number }>`SELECT ${i} AS n`.execute(trx)).rows[0]!.n)).toBe(i);
  });

  it('rolls back a failing unit alone; the others in its batch commit', async () => {
    const runner = new GroupCommitTransactions(opened.store.db);
    const results = await Promise.allSettled([
      runner.run((trx) => sql`INSERT INTO gc_probe VALUES (1)`.execute(trx)),
      runner.run(async (trx) => {
        await sql`INSERT INTO gc_probe VALUES (2)`.execute(trx);
        throw new Error('unit failed');
      }),
      runner.run((trx) => sql`INSERT INTO gc_probe VALUES (3)`.execute(trx)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await sql<{ v: number }>`SELECT v FROM gc_probe ORDER BY v`.execute(opened.store.db)).rows.map((r) => r.v)).toEqual([1, 3]);
  });
});
