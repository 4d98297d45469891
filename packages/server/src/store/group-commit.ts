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

// Compiled once: three of them run for every unit of work.
const SAVEPOINT = CompiledQuery.raw('SAVEPOINT unit');
const RELEASE_SAVEPOINT = CompiledQuery.raw('RELEASE SAVEPOINT unit');
const ROLLBACK_TO_SAVEPOINT = CompiledQuery.raw('ROLLBACK TO SAVEPOINT unit');

interface PendingWork {
  work: (trx: Transaction<Database>) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * Group commit for a database with one writer (SQLite): units of work that arrive while a commit
 * is under way are run together in the next transaction, each inside its own savepoint, and each
 * caller is answered only after that transaction has committed. A unit that fails is rolled back
 * to its savepoint alone; the others still commit. Durability per unit is unchanged (nothing is
 * acknowledged before its commit), while the commit cost, most of an ingest's cost on SQLite, is
 * shared by every request in flight.
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
      const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
      try {
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
}
