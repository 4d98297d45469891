import type { Kysely } from 'kysely';
import type { Database } from '../../src/store/schema.js';
import type { SqlDialect } from '../../src/store/sql-dialect.js';
import { postgresDatabase, postgresOk, sqliteDatabase } from './databases.js';

/**
 * A migrated database seen as the query module sees it (a Kysely handle and its dialect), opened
 * through the real store so that connection set-up (pragmas, the regexp function) is the store's.
 */
export interface TestDatabase {
  readonly name: 'sqlite' | 'postgres';
  readonly db: Kysely<Database>;
  readonly dialect: SqlDialect;
  close(): Promise<void>;
}

export type TestDatabaseFactory = () => Promise<TestDatabase>;

export async function openSqlite(): Promise<TestDatabase> {
  const { store, close } = await sqliteDatabase.open();
  return { name: 'sqlite', db: store.db, dialect: store.dialect, close };
}

/**
 * A factory of fresh PostgreSQL databases (a schema each), or undefined when PostgreSQL is
 * unreachable (databases.ts has printed the notice, or failed under THREADLINE_REQUIRE_POSTGRES=1).
 */
export async function postgresOrSkip(): Promise<TestDatabaseFactory | undefined> {
  if (!postgresOk) return undefined;
  return async () => {
    const { store, close } = await postgresDatabase.open();
    return { name: 'postgres', db: store.db, dialect: store.dialect, close };
  };
}
