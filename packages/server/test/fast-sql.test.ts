import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { insertRows, preparedStatementName, runSql } from '../src/store/fast-sql.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';

/**
 * The ingest path's SQL text (store/fast-sql.ts) runs the same on both databases, and on
 * PostgreSQL small statements are prepared by name while inserts of many rows are not (each row
 * count is a shape of its own, kept by every pooled connection).
 */
describeEachDatabase('statements made once per shape', (database) => {
  let db: TestStore;
  beforeAll(async () => {
    db = await database.open();
    await sql`CREATE TABLE fast_sql_probe (n integer NOT NULL, label text)`.execute(db.store.db);
  });
  afterAll(async () => db.close());

  it('inserts rows and reads them back, whatever their number', async () => {
    const few = [[1, 'one'], [2, null]];
    const many = Array.from({ length: 60 }, (_, i) => [100 + i, `row ${i}`]);
    await insertRows(db.store.db, 'fast_sql_probe', ['n', 'label'], few);
    await insertRows(db.store.db, 'fast_sql_probe', ['n', 'label'], many);
    const { rows } = await runSql<{ n: number; label: string | null }>(db.store.db, 'SELECT n, label FROM fast_sql_probe WHERE n >= ? ORDER BY n', [0]);
    expect(rows.map((r) => [Number(r.n), r.label])).toEqual([...few, ...many]);
    if (database.name === 'postgres') {
      expect(preparedStatementName('INSERT INTO fast_sql_probe (n, label) VALUES ($1, $2), ($3, $4)')).toMatch(/^threadline_\d+$/);
      expect(preparedStatementName('SELECT n, label FROM fast_sql_probe WHERE n >= $1 ORDER BY n')).toMatch(/^threadline_\d+$/);
      const sixtyRows = `INSERT INTO fast_sql_probe (n, label) VALUES ${Array.from({ length: 60 }, (_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ')}`;
      expect(preparedStatementName(sixtyRows)).toBeUndefined();
    }
  });
});
