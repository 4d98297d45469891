import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { preparedStatementName } from '../fast-sql.js';
import { KyselyTraceStore } from '../kysely-store.js';
import { migrateToLatest } from '../migrations/migrations.js';
import type { Database } from '../schema.js';
import { PostgresChangeFeed } from './postgres-change-feed.js';
import { postgresDialect } from './postgres-dialect.js';

const INT8_OID = 20;

export interface PostgresStoreOptions {
  connectionString: string;
  /** Connections in the pool. */
  maxConnections?: number;
  /** Schema to use (created if missing); tests isolate themselves with one each. */
  schema?: string;
  /**
   * Longest a statement may run before PostgreSQL cancels it (`statement_timeout`). A search
   * cancelled so is a 400 that asks for a narrower filter; no query holds a connection longer.
   * Default 30 000 ms.
   */
  queryTimeoutMillis?: number;
  /**
   * Longest a request waits for a connection, from the pool or from the server, before it is
   * answered 503 with Retry-After. Default 5 000 ms.
   */
  connectTimeoutMillis?: number;
  /** How long the LISTEN connection of live updates stays open after its last listener left; see PostgresChangeFeed. */
  listenLingerMillis?: number;
}

const DEFAULT_QUERY_TIMEOUT_MILLIS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MILLIS = 5_000;
/** A write waiting this long for another transaction's row lock gives up (503) instead of queueing on. */
const LOCK_TIMEOUT_MILLIS = 10_000;
/** A transaction left open by a stalled request releases its locks after this long. */
const IDLE_IN_TRANSACTION_TIMEOUT_MILLIS = 60_000;

/**
 * Opens a PostgreSQL store. Any number of server replicas may share the database: every write
 * is one transaction, rollups move by atomic upserts, and migrations run under Kysely's lock.
 *
 * @example
 * const store = await openPostgresStore({ connectionString: 'postgresql://postgres@127.0.0.1:5432/threadline' });
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<KyselyTraceStore> {
  // Migrations run on a connection of their own without the statement time limit: a backfill
  // of a large database may take minutes, once.
  const migrator = new Kysely<Database>({ dialect: new PostgresDialect({ pool: newPool(options, { maxConnections: 1 }) }) });
  let schema: string;
  try {
    if (options.schema) await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(options.schema)}`.execute(migrator);
    const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(migrator);
    schema = rows[0]!.schema;
    await migrateToLatest(migrator as Kysely<unknown>, { dialect: 'postgres', schema });
  } finally {
    await migrator.destroy();
  }
  const limits =
    `SET statement_timeout = ${Math.max(1, Math.round(options.queryTimeoutMillis ?? DEFAULT_QUERY_TIMEOUT_MILLIS))}; ` +
    `SET lock_timeout = ${LOCK_TIMEOUT_MILLIS}; SET idle_in_transaction_session_timeout = ${IDLE_IN_TRANSACTION_TIMEOUT_MILLIS}`;
  const pool = newPool(options, { maxConnections: options.maxConnections ?? 10 });
  pool.on('connect', (client) => {
    // Sent ahead of anything the pool's caller sends on this new connection (a client runs its
    // queries in order). Should it fail, the connection is broken and so is the caller's query.
    client.query(limits).catch(() => {});
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
  // Live updates: this replica's writes go out by NOTIFY, the others' come in on a LISTEN connection of its own.
  const changes = new PostgresChangeFeed({
    db,
    schema,
    newClient: () => new pg.Client({ ...connectionConfig(options), application_name: 'threadline-live' }),
    ...(options.listenLingerMillis !== undefined ? { lingerMillis: options.listenLingerMillis } : {}),
  });
  return new KyselyTraceStore(db, postgresDialect, { changes });
}

/**
 * The pool as Kysely takes it, whose connections run the hot path's statements (store/fast-sql.ts)
 * as named prepared statements: PostgreSQL then parses and plans each once per connection, not on
 * every call (~30 statements per trace ingested).
 */
function preparingPool(pool: pg.Pool): PostgresPool {
  return {
    async connect() {
      const client = await pool.connect();
      return {
        // Statements only: the dialect has no cursor configured, so Kysely never streams.
        query: ((text: string, values: readonly unknown[]) => {
          const name = preparedStatementName(text);
          return name ? client.query({ name, text, values: [...values] }) : client.query(text, [...values]);
        }) as unknown as PostgresPoolClient['query'],
        release: () => client.release(),
      };
    },
    end: () => pool.end(),
  };
}

/** What every connection to the store's database is opened with. */
function connectionConfig(options: PostgresStoreOptions): pg.ClientConfig {
  return {
    connectionString: options.connectionString,
    connectionTimeoutMillis: options.connectTimeoutMillis ?? DEFAULT_CONNECT_TIMEOUT_MILLIS,
    // A peer that vanished without a FIN (failover, cable) is noticed by TCP, not by waiting forever.
    keepAlive: true,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  };
}

function newPool(options: PostgresStoreOptions, { maxConnections }: { maxConnections: number }): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(options),
    max: maxConnections,
    // Times in ms and counters fit a double exactly; nanosecond columns are only read inside span JSON.
    types: { getTypeParser: (oid: number, format?: string) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text')) } as pg.CustomTypesConfig,
  });
  // A connection lost while idle in the pool: the pool drops it and opens another when needed.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    // A connection lost while a request uses it (a terminated backend, a failover) emits 'error'
    // on its client, which would crash the process if nobody listened. The query in flight
    // rejects with the same error, the request answers 503, and the pool discards the client.
    client.on('error', () => {});
  });
  return pool;
}
