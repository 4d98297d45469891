import { randomBytes } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from '../store/migrations/migrations.js';
import { postgresDialect } from '../store/postgres/postgres-dialect.js';
import type { Database } from '../store/schema.js';
import type { SqlDialect } from '../store/sql-dialect.js';
import { sqliteDialect } from '../store/sqlite/sqlite-dialect.js';
import { rlikeRegExp } from './regex-pattern.js';

/**
 * Test helpers: a migrated database of each kind, so every store and query test runs once per
 * database (STYLE.md). PostgreSQL comes from `TEST_POSTGRES_URL`; when it cannot be reached the
 * PostgreSQL runs are skipped with a notice, unless `THREADLINE_REQUIRE_POSTGRES=1`.
 */
export interface TestDatabase {
  readonly name: 'sqlite' | 'postgres';
  readonly db: Kysely<Database>;
  readonly dialect: SqlDialect;
  /** Closes the connection and drops whatever the database held. */
  close(): Promise<void>;
}

/** Opens a database; called in `beforeAll`, after the decision to run was made. */
export type TestDatabaseFactory = () => Promise<TestDatabase>;

export const DEFAULT_TEST_POSTGRES_URL = 'postgresql://postgres@127.0.0.1:5432/test';

/**
 * A regexp function with the semantics the store should register on SQLite connections:
 * unanchored, {@link rlikeRegExp}'s flags, 0 for NULL or an invalid pattern.
 *
 * @example
 * connection.function('regexp', { deterministic: true }, sqliteRegexp());
 */
export function sqliteRegexp(): (pattern: unknown, value: unknown) => number {
  const cache = new Map<string, RegExp | null>();
  return (pattern, value) => {
    if (typeof pattern !== 'string' || value === null || value === undefined) return 0;
    let re = cache.get(pattern);
    if (re === undefined) {
      try {
        re = rlikeRegExp(pattern);
      } catch {
        re = null;
      }
      if (cache.size > 1000) cache.clear();
      cache.set(pattern, re);
    }
    return re !== null && re.test(String(value)) ? 1 : 0;
  };
}

/**
 * An in-memory SQLite database, set up as the store sets up its connections.
 *
 * @example
 * const { db, dialect } = await openSqlite();
 */
export async function openSqlite(): Promise<TestDatabase> {
  const connection = new SqliteDatabase(':memory:');
  connection.pragma('case_sensitive_like = ON');
  connection.function('regexp', { deterministic: true }, sqliteRegexp());
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: connection }) });
  await migrateToLatest(db as unknown as Kysely<unknown>, { dialect: 'sqlite' });
  return { name: 'sqlite', db, dialect: sqliteDialect, close: () => db.destroy() };
}

/**
 * Decides once per test file whether PostgreSQL tests run: resolves to a factory of fresh,
 * isolated databases (one random schema each, dropped on close), or `undefined` after printing
 * why they are skipped. Throws instead when `THREADLINE_REQUIRE_POSTGRES=1`.
 *
 * @example
 * const postgres = await postgresOrSkip();
 * describe.skipIf(!postgres)('postgres', () => { ... });
 */
export async function postgresOrSkip(): Promise<TestDatabaseFactory | undefined> {
  const url = process.env.TEST_POSTGRES_URL || DEFAULT_TEST_POSTGRES_URL;
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await probe.connect();
    await probe.query('SELECT 1');
  } catch (error) {
    const reason = `PostgreSQL at ${url} is unreachable (${(error as Error).message})`;
    if (process.env.THREADLINE_REQUIRE_POSTGRES === '1') throw new Error(`${reason} and THREADLINE_REQUIRE_POSTGRES=1`);
    console.warn(`[threadline tests] ${reason}: PostgreSQL tests are SKIPPED. Set TEST_POSTGRES_URL, or THREADLINE_REQUIRE_POSTGRES=1 to fail instead.`);
    return undefined;
  } finally {
    await probe.end().catch(() => undefined);
  }
  return () => openPostgres(url);
}

async function openPostgres(url: string): Promise<TestDatabase> {
  const schema = `threadline_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema}`, max: 4 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const close = async () => {
    await db.destroy();
    const dropper = new pg.Client({ connectionString: url });
    await dropper.connect();
    await dropper.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await dropper.end();
  };
  try {
    await migrateToLatest(db as unknown as Kysely<unknown>, { dialect: 'postgres', schema });
  } catch (error) {
    await close();
    throw error;
  }
  return { name: 'postgres', db, dialect: postgresDialect, close };
}
