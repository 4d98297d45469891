import {
  CompiledQuery,
  SelectQueryNode,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type SqliteDatabase,
  type SqliteDialectConfig,
} from 'kysely';
import { searchTimeLimitError } from '../../query/time-limit.js';
import type { CheckpointThread } from './checkpoint-thread.js';
import type { SearchThreads } from './search-threads.js';

/** Where and how the store's searches run: statements that call the time-limit function. */
export interface SearchRouting {
  /** The function whose call marks a search (search-functions.js). */
  readonly timeLimitFunction: string;
  readonly timeLimitMillis: number;
  /** Runs searches off the event loop; without it they run on the store's connection. */
  readonly threads?: SearchThreads;
  /**
   * With threads: how long a search may first run on the event loop, where a short one costs
   * nothing extra, before it is stopped and run again on a thread.
   */
  readonly eventLoopBudgetMillis: number;
  /** With threads: whether a search goes straight to one, because one row of it may take long. */
  offEventLoop(sql: string): boolean;
  /** Steps a search on the store's own connection within a time limit (search-functions.js). */
  within<T>(limitMillis: number, run: () => T): T;
}

/**
 * SQLite with one writing connection, as Kysely's own dialect, and two changes:
 *
 * - Transactions take the write lock when they begin (`BEGIN IMMEDIATE`). A deferred transaction
 *   that reads and then writes cannot wait for another process's writer: SQLite fails it at once
 *   with SQLITE_BUSY. Taken up front, the lock is waited for (busy_timeout), so several server
 *   processes can share one database file.
 * - Searches (statements that call the time-limit function) are bounded by their time limit, and
 *   with search threads they cannot hold up the event loop: one whose rows may each take long
 *   (pattern matching, JSON parsing: their cost grows with a value's size, and one value can be
 *   tens of MiB) goes straight to a thread; any other first runs here within a budget of
 *   milliseconds and, past it, is stopped and run again on a thread. A short search (a page of a
 *   list, a user's traces) so never pays for the trip to a thread (~0.1-0.5 ms, more than such a
 *   search itself). Neither waits for a transaction in progress on the store's connection.
 */
/** The store's connection, and the checkpoint thread that ends with it. */
export type ThreadlineSqliteConfig = SqliteDialectConfig & {
  database: SqliteDatabase;
  checkpoints?: CheckpointThread;
  /** Run on the connection at the end of every transaction, before it commits; set once the schema is migrated. */
  beforeCommit?: (database: SqliteDatabase) => void;
};

export class ThreadlineSqliteDialect extends SqliteDialect {
  constructor(
    private readonly config: ThreadlineSqliteConfig,
    private readonly search: SearchRouting,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    return new ThreadlineSqliteDriver(this.config, this.search);
  }
}

class ThreadlineSqliteDriver extends SqliteDriver {
  private readonly mutex = new ConnectionMutex();

  constructor(
    private readonly sqlite: ThreadlineSqliteConfig,
    private readonly search: SearchRouting,
  ) {
    super(sqlite);
  }

  // The connection is taken when a statement needs it, not here: a search may not need it at all.
  override async acquireConnection(): Promise<DatabaseConnection> {
    return new RoutedConnection(this.sqlite.database, this.mutex, this.search);
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as RoutedConnection).lock();
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  // A failure here fails the transaction: Kysely rolls it back.
  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    this.sqlite.beforeCommit?.(this.sqlite.database);
    await super.commitTransaction(connection);
  }

  // Kysely passes the connection, though SqliteDriver's own signature does not name it.
  override async releaseConnection(connection?: DatabaseConnection): Promise<void> {
    (connection as RoutedConnection | undefined)?.unlock();
  }

  override async destroy(): Promise<void> {
    await this.search.threads?.close();
    await this.sqlite.checkpoints?.close();
    await super.destroy();
  }
}

/** One use of the store's connection (a statement, a transaction, a `db.connection()` block). */
class RoutedConnection implements DatabaseConnection {
  private locked = false;

  constructor(
    private readonly database: SqliteDatabase,
    private readonly mutex: ConnectionMutex,
    private readonly search: SearchRouting,
  ) {}

  async lock(): Promise<void> {
    if (this.locked) return;
    await this.mutex.lock();
    this.locked = true;
  }

  unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    this.mutex.unlock();
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const { sql, parameters } = compiledQuery;
    const isSearch = sql.includes(this.search.timeLimitFunction);
    const { threads } = this.search;
    // Inside a transaction (or a held connection) a search reads what it wrote: it stays here.
    if (isSearch && threads && !this.locked) {
      if (!this.search.offEventLoop(sql)) {
        await this.lock();
        try {
          return { rows: this.search.within(this.search.eventLoopBudgetMillis, () => this.database.prepare(sql).all(parameters)) as R[] };
        } catch (error) {
          if (!isTimeLimitError(error)) throw error;
        } finally {
          this.unlock();
        }
      }
      return { rows: (await threads.run(sql, parameters)) as R[] };
    }
    await this.lock();
    const statement = this.database.prepare(sql);
    if (statement.reader) {
      if (!isSearch) return { rows: statement.all(parameters) as R[] };
      try {
        return { rows: this.search.within(this.search.timeLimitMillis, () => statement.all(parameters)) as R[] };
      } catch (error) {
        if (isTimeLimitError(error)) throw searchTimeLimitError(this.search.timeLimitMillis);
        throw error;
      }
    }
    const { changes, lastInsertRowid } = statement.run(parameters);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiledQuery.query)) throw new Error('Sqlite driver only supports streaming of select queries');
    await this.lock();
    for (const row of this.database.prepare(compiledQuery.sql).iterate(compiledQuery.parameters)) yield { rows: [row as R] };
  }
}

/** search-functions.js's StatementTimeLimitError, which this module cannot import by name. */
function isTimeLimitError(error: unknown): boolean {
  return error instanceof Error && error.name === 'StatementTimeLimitError';
}

/** Kysely's: one statement or transaction at a time on the one connection. */
class ConnectionMutex {
  private promise?: Promise<void>;
  private resolve?: () => void;

  async lock(): Promise<void> {
    while (this.promise) await this.promise;
    this.promise = new Promise((resolve) => (this.resolve = resolve));
  }

  unlock(): void {
    const resolve = this.resolve;
    this.promise = undefined;
    this.resolve = undefined;
    resolve?.();
  }
}
