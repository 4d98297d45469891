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

  it('runs a batch once when a unit fails before changing a row, and again in savepoints when it fails after', async () => {
    const runner = new GroupCommitTransactions(opened.store.db);
    await sql`DELETE FROM gc_probe`.execute(opened.store.db);
    const runs = [0, 0, 0];
    const batch = (failing: (trx: Parameters<Parameters<typeof runner.run>[0]>[0]) => Promise<unknown>) =>
      Promise.allSettled([
        runner.run(async (trx) => {
          runs[0]!++;
          return sql`INSERT INTO gc_probe VALUES (10)`.execute(trx);
        }),
        runner.run(async (trx) => {
          runs[1]!++;
          return failing(trx);
        }),
        runner.run(async (trx) => {
          runs[2]!++;
          return sql`INSERT INTO gc_probe VALUES (30)`.execute(trx);
        }),
      ]);
    // Fails after a read only: nothing to undo, nobody runs twice.
    const readOnly = await batch(async (trx) => {
      await sql`SELECT count(*) FROM gc_probe`.execute(trx);
      throw new Error('not found');
    });
    expect(readOnly.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(runs).toEqual([1, 1, 1]);
    // Fails after an insert: the batch is rolled back there (the unit after it has not run yet)
    // and runs again, each unit in a savepoint.
    const afterWriting = await batch(async (trx) => {
      await sql`INSERT INTO gc_probe VALUES (20)`.execute(trx);
      throw new Error('failed after writing');
    });
    expect(afterWriting.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(runs).toEqual([3, 3, 2]);
    expect((await sql<{ v: number }>`SELECT v FROM gc_probe ORDER BY v`.execute(opened.store.db)).rows.map((r) => r.v)).toEqual([10, 10, 30, 30]);
    // An error of SQLite's own (one may end the transaction) runs the batch again in savepoints,
    // though it changed no row.
    const sqliteError = await batch((trx) => sql`INSERT INTO gc_probe VALUES (NULL)`.execute(trx));
    expect(sqliteError.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(runs).toEqual([5, 5, 3]);
    expect((await sql<{ v: number }>`SELECT v FROM gc_probe ORDER BY v`.execute(opened.store.db)).rows.map((r) => r.v)).toEqual([10, 10, 10, 30, 30, 30]);
  });
});
