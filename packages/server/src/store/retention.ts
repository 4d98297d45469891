import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { invalidParameter } from '../errors.js';
import { repeatInBackground } from './background.js';
import { deleteOrphanedSessionAssessments } from './erasures.js';
import type { PublishingTransactions } from './change-feed.js';
import { releaseLease, takeLease } from './leases.js';
import type { Database } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';
import { deleteTracesIn } from './trace-writes.js';

/** The experiment tag that sets its retention: whole days; traces older than that are deleted. */
export const RETENTION_TAG = 'threadline.retention_days';
const MAX_RETENTION_DAYS = 36_500;
const DAY_MS = 86_400_000;
const LEASE = 'retention';
/** Traces per transaction: each holds the write lock for milliseconds. */
const RETENTION_BATCH = 200;

/** The days a retention tag's value sets; a 400 naming the rule for anything else. */
export function retentionDays(value: string): number {
  const days = /^\d{1,6}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!(days >= 1 && days <= MAX_RETENTION_DAYS)) {
    throw invalidParameter(`Invalid value '${value.slice(0, 40)}' for tag '${RETENTION_TAG}': a whole number of days from 1 to ${MAX_RETENTION_DAYS}.`);
  }
  return days;
}

/**
 * Retention (DESIGN.md §8): traces of an experiment older than its `threadline.retention_days`
 * are deleted by the delete path of trace-writes.ts (every rollup moved exactly, hourly included),
 * oldest first, {@link RETENTION_BATCH} per transaction. Of several replicas, only the one holding
 * the `retention` lease works; it renews the lease with each batch, and another takes over when
 * it stops renewing.
 */
export class Retention {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialect,
    private readonly transactions: PublishingTransactions,
  ) {}

  /**
   * One pass over every experiment with a retention: answers the traces deleted per experiment,
   * or undefined when another process holds the lease.
   */
  async runOnce(holder: string, options: { now?: number; leaseMs?: number; batchSize?: number } = {}): Promise<Record<string, number> | undefined> {
    const now = options.now ?? Date.now();
    const leaseMs = options.leaseMs ?? 60_000;
    if (!(await takeLease(this.db, LEASE, holder, leaseMs, now))) return undefined;
    const deleted: Record<string, number> = {};
    const tagged = await this.db.selectFrom('experiment_tags').select(['experiment_id', 'value']).where('key', '=', RETENTION_TAG).orderBy('experiment_id').execute();
    for (const { experiment_id, value } of tagged) {
      let days: number;
      try {
        days = retentionDays(value);
      } catch {
        continue;
      }
      const experimentId = String(experiment_id);
      // "Older than N days": strictly before the cutoff (the delete path's bound is inclusive).
      const cutoff = now - days * DAY_MS - 1;
      for (;;) {
        const ids = await this.transactions.run((trx, changed) =>
          deleteTracesIn(trx, this.dialect, { experimentId, maxTimestampMillis: cutoff, maxTraces: options.batchSize ?? RETENTION_BATCH }, { changed }),
        );
        if (ids.length === 0) break;
        deleted[experimentId] = (deleted[experimentId] ?? 0) + ids.length;
        // Still ours? A pass that outlived its lease stops and leaves the rest to the new holder.
        if (!(await takeLease(this.db, LEASE, holder, leaseMs))) return deleted;
      }
      // Feedback on whole conversations whose every turn is now gone goes with them.
      if (deleted[experimentId]) await deleteOrphanedSessionAssessments(this.db, this.transactions, [Number(experimentId)]);
    }
    return deleted;
  }

  /** Lets another replica take over at once (this one is stopping). */
  release(holder: string): Promise<void> {
    return releaseLease(this.db, LEASE, holder);
  }
}

/** Runs retention passes every `everyMs` while the server runs; answers the function that stops it. */
export function runRetentionInBackground(retention: Retention, report: (error: unknown) => void, everyMs = 60_000): () => Promise<void> {
  const holder = `retention-${randomBytes(8).toString('hex')}`;
  const stop = repeatInBackground(() => retention.runOnce(holder, { leaseMs: Math.max(everyMs * 2, 60_000) }), everyMs, report);
  return async () => {
    await stop();
    await retention.release(holder).catch(report);
  };
}
