import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { KyselyTraceStore } from '../kysely-store.js';
import { migrateToLatest } from '../migrations/migrations.js';
import type { Database } from '../schema.js';
import { postgresDialect } from './postgres-dialect.js';

const INT8_OID = 20;

export interface PostgresStoreOptions {
  connectionString: string;
  /** Connections in the pool. */
  maxConnections?: number;
  /** Schema to use (created if missing); tests isolate themselves with one each. */
  schema?: string;
}

/**
 * Opens a PostgreSQL store. Any number of server replicas may share the database: every write
 * is one transaction, rollups move by atomic upserts, and migrations run under Kysely's lock.
 *
 * @example
 * const store = await openPostgresStore({ connectionString: 'postgresql://postgres@127.0.0.1:5432/threadline' });
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<KyselyTraceStore> {
  // Times in ms and counters fit a double exactly; nanosecond columns are only read inside span JSON.
  const types = { getTypeParser: (oid: number, format?: string) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text')) };
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    types: types as pg.CustomTypesConfig,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    if (options.schema) {
      const client = await pool.connect();
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema.replace(/"/g, '""')}"`);
      } finally {
        client.release();
      }
    }
    const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db);
    await migrateToLatest(db as Kysely<unknown>, { dialect: 'postgres', schema: rows[0]!.schema });
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new KyselyTraceStore(db, postgresDialect);
}
