import { SpanAttributeKey } from '@threadline/protocol';
import type { TraceStore } from '../store/store.js';
import type { MlflowCostJson, StoredTrace } from '../trace-model.js';
import type { OtlpSpanJson } from './otlp-span-json.js';

/**
 * Per LLM span, the cost the server priced it at, as `mlflow.llm.cost`: the spans served by the
 * trace endpoints the UI reads (get and batchGet), so that its trace page can show what each call
 * cost. The spans are stored as they were logged and the price is the server's, kept in
 * `llm_calls`; `traces.json`, the artifact MLflow clients download, stays as logged.
 */

/** The span costs of those of `traces` that have any, by trace id: one read for the lot. */
export async function spanCostsOf(store: TraceStore, traces: readonly StoredTrace[]): Promise<Map<string, Map<string, MlflowCostJson>>> {
  const priced = traces.filter((t) => t.cost !== null).map((t) => t.traceId);
  return priced.length === 0 ? new Map() : store.spanCosts(priced);
}

/** `span` with its cost added, unless it carries a `mlflow.llm.cost` of its own (then that is what it cost). */
export function withSpanCost(span: OtlpSpanJson, cost: MlflowCostJson | undefined): OtlpSpanJson {
  if (!cost || span.attributes.some((a) => a.key === SpanAttributeKey.LLM_COST)) return span;
  // JSON-encoded, as every MLflow span attribute value is.
  return { ...span, attributes: [...span.attributes, { key: SpanAttributeKey.LLM_COST, value: { string_value: JSON.stringify(cost) } }] };
}
