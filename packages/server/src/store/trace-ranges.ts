import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Stored traces by request time, in one experiment or all: what a maintenance command walks. */
export interface TraceRange {
  experimentId?: string;
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  /** Traces per transaction; default 200. */
  batchSize?: number;
  /** Told the running total after each batch. */
  onProgress?: (done: number) => void;
}

/**
 * Calls `each` with the ids of the range's traces, oldest first, `batchSize` at a time (each call
 * its own transaction, so a long walk never holds the writer), resuming after the last trace seen
 * so that traces added meanwhile are neither missed before it nor visited twice. Answers the sum
 * of what `each` answered.
 */
export async function forEachTraceBatch(db: Kysely<Database>, range: TraceRange, each: (traceIds: string[]) => Promise<number>): Promise<number> {
  const batch = range.batchSize ?? 200;
  let after: { time: number; id: string } | undefined;
  let done = 0;
  for (;;) {
    let query = db
      .selectFrom('traces')
      .select(['trace_id', 'request_time'])
      .where('request_time', '>=', range.fromMs)
      .where('request_time', '<', range.toMs)
      .orderBy('request_time')
      .orderBy('trace_id')
      .limit(batch);
    if (range.experimentId !== undefined) query = query.where('experiment_id', '=', Number(range.experimentId));
    if (after) {
      const { time, id } = after;
      query = query.where((eb) => eb.or([eb('request_time', '>', time), eb.and([eb('request_time', '=', time), eb('trace_id', '>', id)])]));
    }
    const rows = await query.execute();
    if (rows.length === 0) return done;
    done += await each(rows.map((r) => r.trace_id));
    range.onProgress?.(done);
    const last = rows.at(-1)!;
    after = { time: Number(last.request_time), id: last.trace_id };
  }
}
