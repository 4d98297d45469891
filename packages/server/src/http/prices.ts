import type { FastifyInstance } from 'fastify';
import type { CustomPrice } from '../cost/price-book.js';
import { invalidParameter, notFound } from '../errors.js';
import { refuseNul } from '../text.js';
import type { RouteContext } from './app.js';
import { addAccessRules, ADMIN, SIGNED_IN } from './auth/access-rules.js';
import { actorOf } from './auth/caller.js';
import { bodyObject } from './fields.js';

export const PricePath = {
  LIST: '/threadline/prices',
  ONE: '/threadline/prices/:model',
} as const;

// Prices are not per experiment: anyone signed in reads them, only admins change them.
addAccessRules(
  [
    ['GET', PricePath.LIST, SIGNED_IN],
    ['PUT', PricePath.ONE, ADMIN],
    ['DELETE', PricePath.ONE, ADMIN],
  ],
  { underApiPrefixes: true },
);

/** The longest model name a price may be set for. */
const MAX_MODEL_CHARS = 256;
/** A price above this (USD per million tokens) is a typo, not a rate. */
const MAX_PRICE_PER_MTOK = 100_000;

export interface PriceJson {
  model: string;
  input_per_mtok: number;
  output_per_mtok: number;
  cache_read_per_mtok: number | null;
  cache_write_per_mtok: number | null;
  updated_time_ms: number;
  updated_by: string;
}

export function priceJson(p: CustomPrice): PriceJson {
  return {
    model: p.model,
    input_per_mtok: p.inputPerMtok,
    output_per_mtok: p.outputPerMtok,
    cache_read_per_mtok: p.cacheReadPerMtok,
    cache_write_per_mtok: p.cacheWritePerMtok,
    updated_time_ms: p.updatedTimeMs,
    updated_by: p.updatedBy,
  };
}

/** A model name as a price names it, checked. */
export function checkedModelName(model: string): string {
  const name = model.trim();
  refuseNul(name, 'The model name');
  if (name === '' || name.length > MAX_MODEL_CHARS) throw invalidParameter(`Invalid model name '${model.slice(0, 40)}': it must have 1 to ${MAX_MODEL_CHARS} characters.`);
  return name;
}

/** A price in USD per million tokens from a request field: a finite number from 0 to MAX_PRICE_PER_MTOK. */
export function priceField(body: Record<string, unknown>, field: string, required: true): number;
export function priceField(body: Record<string, unknown>, field: string, required: false): number | null;
export function priceField(body: Record<string, unknown>, field: string, required: boolean): number | null {
  const value = body[field];
  if (value === undefined || value === null) {
    if (required) throw invalidParameter(`Missing value for required parameter '${field}' (USD per million tokens).`);
    return null;
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_PRICE_PER_MTOK) {
    throw invalidParameter(`Invalid value ${JSON.stringify(value)} for parameter '${field}': a number of USD per million tokens from 0 to ${MAX_PRICE_PER_MTOK}.`);
  }
  return value;
}

/**
 * Operators' prices: `GET /api/threadline/prices`, `PUT` and `DELETE /api/threadline/prices/{model}`.
 * A price applies to calls priced after it is set (`threadline reprice` applies it to stored ones).
 */
export function registerPriceRoutes(app: FastifyInstance, { store, access }: RouteContext): void {
  app.get(PricePath.LIST, async () => ({ prices: (await store.pricing.list()).map(priceJson) }));

  app.put<{ Params: { model: string } }>(PricePath.ONE, async (req) => {
    const body = bodyObject(req.body);
    const price: CustomPrice = {
      model: checkedModelName(req.params.model),
      inputPerMtok: priceField(body, 'input_per_mtok', true),
      outputPerMtok: priceField(body, 'output_per_mtok', true),
      cacheReadPerMtok: priceField(body, 'cache_read_per_mtok', false),
      cacheWritePerMtok: priceField(body, 'cache_write_per_mtok', false),
      updatedTimeMs: Date.now(),
      updatedBy: actorOf(access.callerOf(req)),
    };
    await store.pricing.set(price);
    return { price: priceJson(price) };
  });

  app.delete<{ Params: { model: string } }>(PricePath.ONE, async (req) => {
    const model = checkedModelName(req.params.model);
    if (!(await store.pricing.remove(model))) throw notFound(`No price is set for model '${model}'.`);
    return {};
  });
}
