import { calcPrice } from '@pydantic/genai-prices';
import type { CallUsage, LlmCall } from './llm-calls.js';
import { toNanos } from './units.js';

/** A price an operator set for a model, in USD per million tokens. */
export interface CustomPrice {
  model: string;
  inputPerMtok: number;
  outputPerMtok: number;
  /** Null: cached input costs what input does. */
  cacheReadPerMtok: number | null;
  cacheWritePerMtok: number | null;
  updatedTimeMs: number;
  updatedBy: string;
}

/** How a call was priced: `span` (its own cost), `custom` (an operator's price), `table` (the bundled table); null: unpriced. */
export type CostSource = 'span' | 'custom' | 'table' | null;

export interface PricedCall {
  /** Nano-dollars (1e-9 USD); null when unpriced. */
  costNanos: number | null;
  /** Its input and output parts, where known (a span's own total may not say them). */
  inputCostNanos: number | null;
  outputCostNanos: number | null;
  source: CostSource;
}

const UNPRICED: PricedCall = { costNanos: null, inputCostNanos: null, outputCostNanos: null, source: null };


/**
 * Prices model calls: a cost the span carried wins, then an operator's price for the model, then
 * the bundled table of `@pydantic/genai-prices` (maintained upstream, tiered and cache prices,
 * read offline: its `updatePrices` is never called, so nothing is fetched at run time). A model
 * none of them knows is unpriced: it costs nothing and is counted as such, never guessed.
 */
export class PriceBook {
  private readonly custom: ReadonlyMap<string, CustomPrice>;
  /** Models the table does not know, per provider: asking again costs ~10 µs each. */
  private readonly unknown = new Set<string>();

  constructor(custom: Iterable<CustomPrice> = []) {
    this.custom = new Map([...custom].map((p) => [p.model.toLowerCase(), p]));
  }

  customPrices(): CustomPrice[] {
    return [...this.custom.values()].sort((a, b) => (a.model < b.model ? -1 : 1));
  }

  price(call: Pick<LlmCall, 'model' | 'provider' | 'usage' | 'explicitCost' | 'startMs'>): PricedCall {
    if (call.explicitCost !== null) return priced(call.explicitCost, 'span');
    const custom = this.custom.get(call.model.toLowerCase());
    if (custom) return priced(customCost(custom, call.usage), 'custom');
    const cost = this.tableCost(call);
    return cost === null ? UNPRICED : priced(cost, 'table');
  }

  private tableCost(call: Pick<LlmCall, 'model' | 'provider' | 'usage' | 'startMs'>): CallCost | null {
    const key = `${call.provider ?? ''}\u0000${call.model}`;
    if (this.unknown.has(key)) return null;
    const usage = {
      input_tokens: call.usage.inputTokens,
      output_tokens: call.usage.outputTokens,
      cache_read_tokens: call.usage.cacheReadTokens,
      cache_write_tokens: call.usage.cacheWriteTokens,
    };
    const timestamp = new Date(call.startMs);
    // A provider the table does not know (an Azure deployment, a gateway) still finds the model by name.
    const found =
      (call.provider !== null ? safeCalcPrice(usage, call.model, { providerId: call.provider.toLowerCase(), timestamp }) : null) ??
      safeCalcPrice(usage, call.model, { timestamp });
    if (found === null) {
      if (this.unknown.size < 10_000) this.unknown.add(key);
      return null;
    }
    return found;
  }
}

/** A cost in USD: its total, and its input and output parts where known. */
export interface CallCost {
  totalUsd: number;
  inputUsd: number | null;
  outputUsd: number | null;
}

function priced(cost: CallCost, source: CostSource): PricedCall {
  return {
    costNanos: toNanos(cost.totalUsd),
    inputCostNanos: cost.inputUsd === null ? null : toNanos(cost.inputUsd),
    outputCostNanos: cost.outputUsd === null ? null : toNanos(cost.outputUsd),
    source,
  };
}

function safeCalcPrice(usage: Parameters<typeof calcPrice>[0], model: string, options: Parameters<typeof calcPrice>[2]): CallCost | null {
  try {
    const result = calcPrice(usage, model, options);
    return result && Number.isFinite(result.total_price) ? { totalUsd: result.total_price, inputUsd: result.input_price, outputUsd: result.output_price } : null;
  } catch {
    return null;
  }
}

/** An operator's price applied to a call: cached input at its own price where one is set. */
export function customCost(price: Pick<CustomPrice, 'inputPerMtok' | 'outputPerMtok' | 'cacheReadPerMtok' | 'cacheWritePerMtok'>, usage: CallUsage): CallCost {
  const uncached = Math.max(0, usage.inputTokens - usage.cacheReadTokens - usage.cacheWriteTokens);
  const cacheRead = Math.min(usage.cacheReadTokens, usage.inputTokens);
  const cacheWrite = Math.min(usage.cacheWriteTokens, usage.inputTokens - cacheRead);
  const inputUsd = (uncached * price.inputPerMtok + cacheRead * (price.cacheReadPerMtok ?? price.inputPerMtok) + cacheWrite * (price.cacheWritePerMtok ?? price.inputPerMtok)) / 1_000_000;
  const outputUsd = (usage.outputTokens * price.outputPerMtok) / 1_000_000;
  return { totalUsd: inputUsd + outputUsd, inputUsd, outputUsd };
}
