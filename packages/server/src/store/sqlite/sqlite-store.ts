import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RE2JS } from 're2js';
import { compileRlike } from '../../query/regex-pattern.js';
import { KyselyTraceStore } from '../kysely-store.js';
import { migrateToLatest } from '../migrations/migrations.js';
import type { Database } from '../schema.js';
import { sqliteDialect } from './sqlite-dialect.js';

export interface SqliteStoreOptions {
  /** A file path, or `:memory:`. */
  path: string;
}

/**
 * Opens (creating if needed) a SQLite store. WAL with `synchronous = NORMAL`: a committed trace
 * survives the process being killed; readers never wait for the writer.
 *
 * @example
 * const store = await openSqliteStore({ path: 'threadline.db' });
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<KyselyTraceStore> {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const database = new BetterSqlite3(options.path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 10000');
  // MLflow's LIKE is case-sensitive on every database.
  database.pragma('case_sensitive_like = ON');
  database.function('regexp', { deterministic: true }, sqliteRegexp());
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(database) }) });
  try {
    await migrateToLatest(db as Kysely<unknown>, { dialect: 'sqlite' });
  } catch (error) {
    await db.destroy();
    throw error;
  }
  // One connection writes: concurrent requests share commits (see GroupCommitTransactions).
  return new KyselyTraceStore(db, sqliteDialect, { groupCommit: true });
}

/** Distinct SQL texts kept prepared; the hot paths use a few dozen. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares every query anew; on the ingest path preparing cost as much as running. The
 * same SQL text gets the same prepared statement back (least recently used ones are dropped).
 * Safe because Kysely runs one statement at a time on this connection and never streams here.
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDialectConfig['database'] {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (statement) {
        statements.delete(text);
      } else {
        statement = database.prepare(text);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
      }
      statements.set(text, statement);
      return statement;
    },
  };
}

/**
 * SQLite's REGEXP, with RLIKE's meaning on PostgreSQL: the pattern's portable form (see
 * portableRegex) run unanchored on RE2, which matches in time linear in the value whatever the
 * pattern: JavaScript's backtracking engine took over 30 s on `^(a|a)*$` against a 32-character
 * name. NULL or an invalid pattern matches nothing. Filters reuse a handful of patterns over many
 * rows, so each is compiled once.
 */
function sqliteRegexp(): (pattern: unknown, value: unknown) => number {
  const compiled = new Map<string, RE2JS | null>();
  return (pattern, value) => {
    if (typeof pattern !== 'string' || value === null || value === undefined) return 0;
    let re = compiled.get(pattern);
    if (re === undefined) {
      try {
        re = compileRlike(pattern);
      } catch {
        re = null;
      }
      if (compiled.size > 256) compiled.clear();
      compiled.set(pattern, re);
    }
    return re !== null && re.test(String(value)) ? 1 : 0;
  };
}

/**
 * Transactions take the write lock when they begin (`BEGIN IMMEDIATE`). A deferred transaction
 * that reads and then writes cannot wait for another process's writer: SQLite fails it at once
 * with SQLITE_BUSY. Taken up front, the lock is waited for (busy_timeout), so several server
 * processes can share one database file.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.config);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}
