import type { Kysely } from 'kysely';
import type { CustomPrice } from '../cost/price-book.js';
import type { Database } from './schema.js';

/** The prices operators set (`model_prices`, 006-cost): read, set, removed. */
export class ModelPrices {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<CustomPrice[]> {
    const rows = await this.db.selectFrom('model_prices').selectAll().orderBy('model').execute();
    return rows.map((r) => ({
      model: r.model,
      inputPerMtok: Number(r.input_per_mtok),
      outputPerMtok: Number(r.output_per_mtok),
      cacheReadPerMtok: r.cache_read_per_mtok === null ? null : Number(r.cache_read_per_mtok),
      cacheWritePerMtok: r.cache_write_per_mtok === null ? null : Number(r.cache_write_per_mtok),
      updatedTimeMs: Number(r.updated_time),
      updatedBy: r.updated_by,
    }));
  }

  async set(price: CustomPrice): Promise<void> {
    const values = {
      input_per_mtok: price.inputPerMtok,
      output_per_mtok: price.outputPerMtok,
      cache_read_per_mtok: price.cacheReadPerMtok,
      cache_write_per_mtok: price.cacheWritePerMtok,
      updated_time: price.updatedTimeMs,
      updated_by: price.updatedBy,
    };
    await this.db
      .insertInto('model_prices')
      .values({ model: price.model, ...values })
      .onConflict((oc) => oc.column('model').doUpdateSet(values))
      .execute();
  }

  /** True when there was a price to remove. */
  async remove(model: string): Promise<boolean> {
    const result = await this.db.deleteFrom('model_prices').where('model', '=', model).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
