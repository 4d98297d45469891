/**
 * bench/privacy on PostgreSQL: a schema of its own (`bench_privacy_<random>`), migrated by the
 * server and filled from bench/search's PostgreSQL copy of the dataset (`bench_search_<N>_<key>`,
 * only read), dropped at the end. The copy runs inside the database server (INSERT ... SELECT of
 * the columns both schemas have: the search copy may predate a migration), secondary indexes
 * dropped for the load and rebuilt after it, then VACUUM (ANALYZE) as autovacuum would have done
 * and a CHECKPOINT, so that neither runs during the measurement.
 */
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import pg from 'pg';
import { openPostgresStore } from '../../packages/server/dist/index.js';

import { ensurePostgresCopy } from '../search/postgres.js';
import { continueTraceKeys } from '../lib/postgres-schema.js';

export { postgresReachable } from '../search/postgres.js';

/** Tables of the migrations' own bookkeeping and of bench:search's, never copied. */
const NOT_COPIED = new Set(['threadline_migrations', 'threadline_migrations_lock', 'bench_loaded', 'bench_feedback']);

/**
 * A fresh schema holding bench:search's PostgreSQL copy of the `traces`-trace dataset: the copy
 * of `sqlitePath` (the schema named after it), else any finished copy of the same size, else one
 * made now from `sqlitePath` by bench:search's code.
 *
 * @returns {Promise<{ schema: string, storeUri: string, note: string, recount(check: (query: (text: string, ...params: unknown[]) => Promise<Record<string, unknown>[]>) => Promise<unknown>): Promise<any>, drop(): Promise<void> }>}
 */
export async function postgresCopyOf({ url, traces, sqlitePath, log }) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let schema;
  try {
    const preferred = `bench_${basename(sqlitePath, '.db').replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;
    const copies = (
      await client.query(`SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'bench_loaded' AND table_schema LIKE $1 ORDER BY table_schema`, [
        `bench\\_search\\_${traces}\\_%`,
      ])
    ).rows.map((r) => r.schema);
    // None yet: bench:search's own copy is made from the SQLite file, as bench:search would.
    const source = copies.includes(preferred) ? preferred : (copies[0] ?? (await ensurePostgresCopy({ sqlitePath, url, log })).schema);
    schema = `bench_privacy_${randomBytes(5).toString('hex')}`;
    const started = performance.now();
    const store = await openPostgresStore({ connectionString: url, schema });
    await store.close();
    await client.query(`SET search_path TO ${schema}`);
    // The migrations' own rows (the Default experiment) make way for the copied ones.
    await client.query('DELETE FROM experiment_tags; DELETE FROM experiments');
    const columns = (
      await client.query(
        `SELECT mine.table_name AS table, mine.column_name AS column FROM information_schema.columns mine
         JOIN information_schema.columns theirs ON theirs.table_schema = $2 AND theirs.table_name = mine.table_name AND theirs.column_name = mine.column_name
         WHERE mine.table_schema = $1 ORDER BY mine.table_name, mine.ordinal_position`,
        [schema, source],
      )
    ).rows;
    const tables = new Map();
    for (const { table, column } of columns) if (!NOT_COPIED.has(table)) tables.set(table, [...(tables.get(table) ?? []), `"${column}"`]);
    const indexes = (
      await client.query(
        `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND t.relname = ANY($2::text[]) AND NOT i.indisprimary AND NOT i.indisunique`,
        [schema, [...tables.keys()]],
      )
    ).rows;
    for (const index of indexes) await client.query(`DROP INDEX "${index.name}"`);
    for (const [table, names] of tables) {
      const copied = await client.query(`INSERT INTO ${schema}.${table} (${names.join(', ')}) SELECT ${names.join(', ')} FROM ${source}.${table}`);
      if (copied.rowCount > 0) log(`postgres: copied ${copied.rowCount.toLocaleString('en-US')} rows of ${table}`);
    }
    for (const index of indexes) await client.query(index.def);
    await continueTraceKeys(client, schema);
    // As autovacuum would have done on a live database (and would otherwise do during the run),
    // then the copy's pages written out, as the SQLite copy is synced.
    await client.query(`VACUUM (ANALYZE) ${[...tables.keys()].join(', ')}`);
    await client.query('CHECKPOINT');
    const seconds = (performance.now() - started) / 1000;
    log(`postgres: ${schema} filled from ${source} in ${seconds.toFixed(0)} s`);
    const storeUri = new URL(url);
    storeUri.searchParams.set('options', `-c search_path=${schema}`);
    const done = schema;
    schema = undefined;
    return {
      schema: done,
      storeUri: storeUri.toString(),
      note: `a schema of its own, copied from bench:search's \`${source}\` in ${seconds.toFixed(0)} s, VACUUMed and ANALYZEd; the local server, default settings`,
      async recount(check) {
        const reader = new pg.Client({ connectionString: url, options: `-c search_path=${done}` });
        await reader.connect();
        try {
          return await check(async (text, ...params) => {
            let n = 0;
            return (await reader.query(text.replace(/\?/g, () => `$${++n}`), params)).rows;
          });
        } finally {
          await reader.end();
        }
      },
      async drop() {
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        try {
          await admin.query(`DROP SCHEMA IF EXISTS ${done} CASCADE`);
        } finally {
          await admin.end();
        }
      },
    };
  } finally {
    // A copy that failed half way goes.
    if (schema) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await client.end();
  }
}
