import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import type { KyselyTraceStore } from '../../src/store/kysely-store.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

/** The PostgreSQL server tests use; this machine and CI run one with trust auth. */
export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** In CI a missing PostgreSQL is a failure, not a skip. */
const REQUIRE_POSTGRES = process.env.THREADLINE_REQUIRE_POSTGRES === '1';

let reachable: Promise<boolean> | undefined;

/** Whether PostgreSQL answers; asked once per test process. */
export function postgresReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (error) {
      if (REQUIRE_POSTGRES) throw new Error(`PostgreSQL is required (THREADLINE_REQUIRE_POSTGRES=1) but ${POSTGRES_URL} is unreachable: ${(error as Error).message}`);
      console.warn(`\n[threadline tests] PostgreSQL at ${POSTGRES_URL} is unreachable: its tests are SKIPPED. Set TEST_POSTGRES_URL to run them.\n`);
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return reachable;
}

/** A PostgreSQL schema of its own for one test file, dropped at the end. */
export async function createPostgresSchema(): Promise<{ schema: string; uri: string; drop(): Promise<void> }> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    schema,
    uri: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

export interface TestStore {
  store: KyselyTraceStore;
  close(): Promise<void>;
}

export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  /** A fresh, migrated, empty store. */
  open(): Promise<TestStore>;
}

export const sqliteDatabase: TestDatabase = {
  name: 'sqlite',
  async open() {
    const store = await openSqliteStore({ path: ':memory:' });
    return { store, close: () => store.close() };
  },
};

export const postgresDatabase: TestDatabase = {
  name: 'postgres',
  async open() {
    const { schema, drop } = await createPostgresSchema();
    const store = await openPostgresStore({ connectionString: POSTGRES_URL, schema, maxConnections: 4 }).catch(async (error: unknown) => {
      await drop();
      throw error;
    });
    return {
      store,
      async close() {
        await store.close();
        await drop();
      },
    };
  },
};

const postgresOk = await postgresReachable();

/**
 * Runs a suite once per database, as Kysely's own tests do. PostgreSQL's run is skipped with a
 * notice where no server answers, and fails instead under THREADLINE_REQUIRE_POSTGRES=1.
 *
 * @example
 * describeEachDatabase('experiments', (database) => { it('...', async () => { const { store } = await database.open(); }); });
 */
export function describeEachDatabase(title: string, body: (database: TestDatabase) => void): void {
  describe(`${title} [sqlite]`, () => body(sqliteDatabase));
  describe.skipIf(!postgresOk)(`${title} [postgres]`, () => body(postgresDatabase));
}

export { postgresOk };
