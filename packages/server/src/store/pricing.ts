import type { Kysely } from 'kysely';
import type { CustomPrice } from '../cost/price-book.js';
import type { PriceSource } from '../cost/price-source.js';
import type { ModelPrices } from './model-prices.js';
import type { Database } from './schema.js';
import { forEachTraceBatch, type TraceRange } from './trace-ranges.js';

/** Which stored traces to price again. */
export type RepriceRange = TraceRange;

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
    return forEachTraceBatch(this.db, range, (traceIds) => this.writes.repriceTraces(traceIds));
  }
}
