import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type SqliteDatabase } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { KyselyTraceStore } from '../kysely-store.js';
import { migrateToLatest } from '../migrations/migrations.js';
import type { Database } from '../schema.js';
import { scalesWithValueSize, sqliteDialect, TIME_LIMIT_FUNCTION } from './sqlite-dialect.js';
import { indexPendingText } from './text-documents.js';
import { ThreadlineSqliteDialect, type ThreadlineSqliteConfig } from './sqlite-driver.js';
import { SearchThreads } from './search-threads.js';
import { BACKSTOP_AUTOCHECKPOINT_PAGES, CheckpointThread } from './checkpoint-thread.js';
import { DatabaseFile } from './database-file.js';

export interface SqliteStoreOptions {
  /** A file path, or `:memory:`. */
  path: string;
  /**
   * How long one search (traces, sessions, users) may run before it is stopped and answered with
   * a 400 naming the limit. Default 10,000 ms.
   */
  searchTimeLimitMillis?: number;
  /**
   * Threads that run searches off the event loop, each on its own read-only connection, so that a
   * slow search holds up neither ingest nor /health. Default 2. With 0, and always for `:memory:`
   * (which no other connection can open), searches run on the event loop, within their time limit.
   */
  searchThreads?: number;
}

/** The default of {@link SqliteStoreOptions.searchTimeLimitMillis}. */
export const DEFAULT_SEARCH_TIME_LIMIT_MILLIS = 10_000;
/** Searches that may wait for a search thread before more are answered with a 503. */
const MAX_WAITING_SEARCHES = 64;
/**
 * How long a search may run on the event loop before it moves to a search thread (see
 * ThreadlineSqliteDialect): short enough that /health stays well under 100 ms.
 */
const EVENT_LOOP_BUDGET_MILLIS = 30;

/** What search-functions.js exports; loaded by path, as the search threads load it. */
interface SearchFunctionsModule {
  registerSearchFunctions(database: BetterSqlite3.Database, timeLimitFunction: string): { within<T>(limitMillis: number, run: () => T): T };
}

/**
 * Opens (creating if needed) a SQLite store. WAL with `synchronous = NORMAL`: a committed trace
 * survives the process being killed; readers never wait for the writer, which is what lets
 * searches run on threads of their own.
 *
 * @example
 * const store = await openSqliteStore({ path: 'threadline.db', searchTimeLimitMillis: 5_000 });
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<KyselyTraceStore> {
  const inMemory = options.path === ':memory:';
  if (!inMemory) mkdirSync(dirname(options.path), { recursive: true });
  const timeLimitMillis = options.searchTimeLimitMillis ?? DEFAULT_SEARCH_TIME_LIMIT_MILLIS;
  const searchThreads = inMemory ? 0 : (options.searchThreads ?? 2);
  // Plain JavaScript shared with the search threads (see search-worker.js).
  const functions = (await import(new URL('./search-functions.js', import.meta.url).href)) as SearchFunctionsModule;
  const database = new BetterSqlite3(options.path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 10000');
  // MLflow's LIKE is case-sensitive on every database.
  database.pragma('case_sensitive_like = ON');
  // Deleted content is overwritten, not left readable in free pages: an erased user's text must
  // be gone from the file (store/erasures.ts checkpoints the WAL after an erase for the same reason).
  database.pragma('secure_delete = ON');
  const search = functions.registerSearchFunctions(database, TIME_LIMIT_FUNCTION);
  const threads =
    searchThreads > 0
      ? new SearchThreads({ path: options.path, timeLimitFunction: TIME_LIMIT_FUNCTION, threads: searchThreads, timeLimitMillis, maxWaiting: MAX_WAITING_SEARCHES })
      : undefined;
  // A file's checkpoints run on a thread of their own (CheckpointThread); this connection only
  // checkpoints if that thread falls far behind.
  if (!inMemory) database.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
  const config: ThreadlineSqliteConfig = { database: withStatementCache(database), ...(inMemory ? {} : { checkpoints: new CheckpointThread(options.path) }) };
  const dialect = new ThreadlineSqliteDialect(
    config,
    {
      timeLimitFunction: TIME_LIMIT_FUNCTION,
      timeLimitMillis,
      eventLoopBudgetMillis: EVENT_LOOP_BUDGET_MILLIS,
      offEventLoop: scalesWithValueSize,
      within: search.within,
      ...(threads ? { threads } : {}),
    },
  );
  const db = new Kysely<Database>({ dialect });
  try {
    await migrateToLatest(db as Kysely<unknown>, { dialect: 'sqlite' });
  } catch (error) {
    await db.destroy();
    throw error;
  }
  const file = inMemory ? undefined : new DatabaseFile(options.path);
  config.beforeCommit = (connection) => {
    file?.check();
    indexPendingText(connection);
  };
  // One connection writes: concurrent requests share commits (see GroupCommitTransactions). One
  // process serves the file, so live updates need no more than the default in-process change feed.
  return new KyselyTraceStore(db, sqliteDialect, { groupCommit: true, ...(file ? { checkHealth: () => file.check() } : {}) });
}

/** Distinct SQL texts kept prepared; the hot paths use a few dozen. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares every query anew; on the ingest path preparing cost as much as running. The
 * same SQL text gets the same prepared statement back (least recently used ones are dropped).
 * Safe because Kysely runs one statement at a time on this connection and never streams here.
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
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
