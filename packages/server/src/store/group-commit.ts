import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

/** Runs a unit of writes in a transaction and resolves once that transaction has committed. */
export interface TransactionRunner {
  run<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
}

/** One transaction per unit of work: for databases with many connections (PostgreSQL). */
export class DirectTransactions implements TransactionRunner {
  constructor(private readonly db: Kysely<Database>) {}

  run<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }
}

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
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxUnitsPerTransaction);
      const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
      try {
        await this.db.transaction().execute(async (trx) => {
          for (const unit of batch) {
            await sql`SAVEPOINT unit`.execute(trx);
            try {
              outcomes.push({ ok: true, value: await unit.work(trx) });
              await sql`RELEASE SAVEPOINT unit`.execute(trx);
            } catch (error) {
              await sql`ROLLBACK TO SAVEPOINT unit`.execute(trx);
              await sql`RELEASE SAVEPOINT unit`.execute(trx);
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
