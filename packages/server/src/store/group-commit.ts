import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { databaseFailure, StoreUnavailableError } from './store-errors.js';

/** Runs a unit of writes in a transaction and resolves once that transaction has committed. */
export interface TransactionRunner {
  run<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
}

/** Attempts of a transaction that keeps colliding with others (deadlock, serialization failure). */
const MAX_CONFLICT_ATTEMPTS = 5;
/** First wait before running a collided transaction again; doubled each time, with full jitter. */
const CONFLICT_BACKOFF_MILLIS = 10;

/**
 * One transaction per unit of work: for databases with many connections (PostgreSQL). A unit
 * that collides with another transaction (SQLSTATE 40001, 40P01) was rolled back whole and is run
 * again, a bounded number of times with jittered backoff, before its caller hears of it: the
 * rollups lock in one order, so such collisions are rare, but a database may still pick a victim.
 * Units must therefore be safe to run again, which every store write is (they read what they
 * change inside the transaction).
 */
export class DirectTransactions implements TransactionRunner {
  constructor(private readonly db: Kysely<Database>) {}

  async run<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(work);
      } catch (error) {
        const failure = databaseFailure(error);
        // A write cancelled by the statement time limit was queued behind locks or a slow
        // database, not asked for too much: the client should send it again later.
        if (failure === 'timeout') throw new StoreUnavailableError('The database took too long to store this; retry later.', { cause: error });
        if (attempt >= MAX_CONFLICT_ATTEMPTS || failure !== 'conflict') throw error;
        await sleep(Math.random() * CONFLICT_BACKOFF_MILLIS * 2 ** (attempt - 1));
      }
    }
  }
}

// Compiled once: they run for every unit of work of a batch that runs again (below).
const SAVEPOINT = CompiledQuery.raw('SAVEPOINT unit');
const RELEASE_SAVEPOINT = CompiledQuery.raw('RELEASE SAVEPOINT unit');
const ROLLBACK_TO_SAVEPOINT = CompiledQuery.raw('ROLLBACK TO SAVEPOINT unit');
const ROWS_CHANGED = CompiledQuery.raw('SELECT total_changes() AS n');

interface PendingWork {
  work: (trx: Transaction<Database>) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Thrown to roll back a batch whose unit failed after it had changed rows. */
class UnitFailedAfterWriting extends Error {}

/**
 * Group commit for a database with one writer (SQLite): units of work that arrive while a commit
 * is under way are run together in the next transaction, and each caller is answered only after
 * that transaction has committed. Durability per unit is unchanged (nothing is acknowledged
 * before its commit), while the commit cost, most of an ingest's cost on SQLite, is shared by
 * every request in flight.
 *
 * A unit that fails is lost alone; the others still commit. The units first run one after the
 * other without savepoints: inside a savepoint SQLite first copies each page a unit changes to a
 * sub-journal, a temporary file, which under ingest was more than the WAL itself (~160 KiB and
 * ~78 write calls per trace in bench:ingest, against ~65 KiB of WAL). A unit that fails without
 * having changed a row (a trace not found, a conflict found by its reads) has left nothing to
 * undo. One that fails after changing rows, or with an error of SQLite's own, rolls the whole
 * transaction back, and the batch runs
 * again with a savepoint per unit, rolled back to alone when it fails; units are safe to run
 * again (they read what they change inside the transaction).
 */
export class GroupCommitTransactions implements TransactionRunner {
  private queue: PendingWork[] = [];
  private flushing = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly maxUnitsPerTransaction = 256,
  ) {}

  run<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Let the requests already parsed in this turn of the event loop join the batch.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    try {
      await this.drain();
    } finally {
      this.flushing = false;
      // A caller answered by the last batch may have queued more work before this ran; it saw
      // `flushing` still set and scheduled nothing, so it is scheduled here.
      if (this.queue.length > 0) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxUnitsPerTransaction);
      let outcomes: Outcome[];
      try {
        outcomes = (await this.runTogether(batch)) ?? (await this.runInSavepoints(batch));
      } catch (error) {
        for (const unit of batch) unit.reject(error);
        continue;
      }
      batch.forEach((unit, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) unit.resolve(outcome.value);
        else unit.reject(outcome.error);
      });
    }
  }

  /** The batch in one transaction without savepoints; undefined when a unit failed after changing rows (all rolled back). */
  private async runTogether(batch: readonly PendingWork[]): Promise<Outcome[] | undefined> {
    const outcomes: Outcome[] = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        let changed = await rowsChanged(trx);
        for (const unit of batch) {
          try {
            outcomes.push({ ok: true, value: await unit.work(trx) });
          } catch (error) {
            // An error of SQLite's own may have ended the transaction (SQLITE_FULL, _IOERR,
            // _NOMEM roll it back whole): the units after it must not run outside it.
            if (isSqliteError(error) || (await rowsChanged(trx)) !== changed) throw new UnitFailedAfterWriting();
            outcomes.push({ ok: false, error });
            continue;
          }
          if (outcomes.length < batch.length) changed = await rowsChanged(trx);
        }
      });
    } catch (error) {
      if (error instanceof UnitFailedAfterWriting) return undefined;
      throw error;
    }
    return outcomes;
  }

  private async runInSavepoints(batch: readonly PendingWork[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    await this.db.transaction().execute(async (trx) => {
      for (const unit of batch) {
        await trx.executeQuery(SAVEPOINT);
        try {
          outcomes.push({ ok: true, value: await unit.work(trx) });
          await trx.executeQuery(RELEASE_SAVEPOINT);
        } catch (error) {
          await trx.executeQuery(ROLLBACK_TO_SAVEPOINT);
          await trx.executeQuery(RELEASE_SAVEPOINT);
          outcomes.push({ ok: false, error });
        }
      }
    });
    return outcomes;
  }
}

/** Rows the connection has inserted, updated or deleted since it opened (SQLite's total_changes()). */
async function rowsChanged(trx: Transaction<Database>): Promise<number> {
  return Number((await trx.executeQuery<{ n: number }>(ROWS_CHANGED)).rows[0]!.n);
}

function isSqliteError(error: unknown): boolean {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_');
}
