import type { Transaction } from 'kysely';
import type { TransactionRunner } from './group-commit.js';
import type { Database } from './schema.js';

/**
 * What a committed write changed: a trace's info or tags (`trace`), its spans (`spans`), its
 * deletion (`deleted`), an assessment of it or of its session (`assessment`; `traceId` null for a
 * session's own). `experiment`: anything in the experiment may have changed (too many changes to
 * name one by one). Ids only, never content: whoever hears of a change reads it with its own rights.
 */
export type ChangeKind = 'trace' | 'spans' | 'deleted' | 'assessment' | 'experiment';

export interface TraceChange {
  experimentId: string;
  traceId: string | null;
  sessionId: string | null;
  userId: string | null;
  kind: ChangeKind;
}

/** Where a unit of writes reports a change; it is published once the unit has committed. */
export type ChangeSink = (change: TraceChange) => void;

/** Who hears of changes. */
export interface ChangeListener {
  /** Changes, in commit order, a few at once. Called outside any write; must not throw. */
  changed(changes: readonly TraceChange[]): void;
  /**
   * Changes may have been missed (the feed lost its connection to the database for a while):
   * whatever the listener shows may be out of date.
   */
  missed?(): void;
}

export interface ChangeSubscription {
  /** Resolves once changes committed from now on will be heard (on PostgreSQL: LISTEN is on, or failed for now). */
  readonly ready: Promise<void>;
  unsubscribe(): void;
}

/**
 * The store's change feed (DESIGN.md §8, live updates): writers publish what they changed after
 * it committed; listeners (the HTTP layer's event streams) subscribe. Publishing must cost close
 * to nothing while nobody listens, and never blocks or fails a writer.
 *
 * @example
 * const subscription = store.changes.subscribe({ changed: (changes) => console.log(changes) });
 * await subscription.ready;
 */
export interface ChangeFeed {
  /** Whether anyone in this process listens. */
  readonly listening: boolean;
  publish(changes: readonly TraceChange[]): void;
  subscribe(listener: ChangeListener): ChangeSubscription;
  close(): Promise<void>;
}

/**
 * The change feed of one process: what this process writes, told to its own listeners. Enough
 * for SQLite, which one process serves; PostgreSQL's feed (postgres/postgres-change-feed.ts) adds
 * the other replicas' writes to it. Changes are delivered on a later turn of the event loop, those
 * of one turn together (a group commit's units, say), so a listener never runs inside a writer.
 */
export class LocalChangeFeed implements ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();
  private pending: TraceChange[] = [];

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  publish(changes: readonly TraceChange[]): void {
    // The common case by far: nobody watches, and nothing is kept.
    if (this.listeners.size === 0 || changes.length === 0) return;
    if (this.pending.length === 0) setImmediate(() => this.deliver());
    this.pending.push(...changes);
  }

  /** Tells every listener that changes may have been missed. */
  missed(): void {
    for (const listener of [...this.listeners]) listener.missed?.();
  }

  subscribe(listener: ChangeListener): ChangeSubscription {
    this.listeners.add(listener);
    return { ready: Promise.resolve(), unsubscribe: () => void this.listeners.delete(listener) };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.pending = [];
  }

  private deliver(): void {
    const changes = this.pending;
    this.pending = [];
    for (const listener of [...this.listeners]) listener.changed(changes);
  }
}

/**
 * A transaction runner whose units report what they change (`changed`), published to the feed
 * once, and only once, the unit has committed: a unit rolled back (to its savepoint in a group
 * commit) or run again after a conflict publishes only what its committed run reported.
 */
export class PublishingTransactions implements TransactionRunner {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly feed: ChangeFeed,
  ) {}

  async run<T>(work: (trx: Transaction<Database>, changed: ChangeSink) => Promise<T>): Promise<T> {
    let changes: TraceChange[] = [];
    const result = await this.transactions.run((trx) => {
      changes = [];
      return work(trx, (change) => void changes.push(change));
    });
    if (changes.length > 0) this.feed.publish(changes);
    return result;
  }
}

/** "Anything in the experiment may have changed": for more changes than are worth naming, or missed ones. */
export function experimentChange(experimentId: string): TraceChange {
  return { experimentId, traceId: null, sessionId: null, userId: null, kind: 'experiment' };
}

/** Two changes with one key say the same thing: one of them is enough. */
export function changeKey(change: TraceChange): string {
  return `${change.kind}\u0000${change.experimentId}\u0000${change.traceId ?? ''}\u0000${change.sessionId ?? ''}`;
}

/** The change of a trace, from its row (or the columns of it that a delete reads). */
export function traceChange(row: { experiment_id: number | string; trace_id: string; session_id: string | null; user_id: string | null }, kind: ChangeKind): TraceChange {
  return { experimentId: String(row.experiment_id), traceId: row.trace_id, sessionId: row.session_id, userId: row.user_id, kind };
}
