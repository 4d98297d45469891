import type { Kysely } from 'kysely';
import type { CustomPrice } from '../cost/price-book.js';
import type { PriceSource } from '../cost/price-source.js';
import type { ModelPrices } from './model-prices.js';
import type { Database } from './schema.js';

/** Which stored traces to price again: a time range of request times, in one experiment or all. */
export interface RepriceRange {
  experimentId?: string;
  fromMs: number;
  toMs: number;
  /** Traces per transaction; default 200. */
  batchSize?: number;
  onProgress?: (priced: number) => void;
}

/**
 * Operators' prices and re-pricing: a price set here applies to calls priced afterwards on this
 * replica at once (others within PRICE_REFRESH_MS); `reprice` applies today's prices to a range
 * of stored traces, in bounded transactions that keep every rollup exact.
 */
export class Pricing {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly prices: ModelPrices,
    private readonly source: PriceSource,
    private readonly writes: { repriceTraces(traceIds: readonly string[]): Promise<number> },
  ) {}

  list(): Promise<CustomPrice[]> {
    return this.prices.list();
  }

  async set(price: CustomPrice): Promise<void> {
    await this.prices.set(price);
    this.source.invalidate();
  }

  async remove(model: string): Promise<boolean> {
    const removed = await this.prices.remove(model);
    this.source.invalidate();
    return removed;
  }

  /** Answers how many traces were priced again. */
  async reprice(range: RepriceRange): Promise<number> {
    this.source.invalidate();
    const batch = range.batchSize ?? 200;
    let after: { time: number; id: string } | undefined;
    let priced = 0;
    for (;;) {
      let query = this.db
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
      if (rows.length === 0) return priced;
      priced += await this.writes.repriceTraces(rows.map((r) => r.trace_id));
      range.onProgress?.(priced);
      const last = rows.at(-1)!;
      after = { time: Number(last.request_time), id: last.trace_id };
    }
  }
}
