import { SpanAttributeKey } from '@threadline/protocol';
import { objectOf } from '../json-object.js';
import { cleanIdValue, modelOf, providerOf } from '../ingest/otlp/otlp-mapping.js';
import type { SpanRecord } from '../trace-model.js';
import type { CallCost } from './price-book.js';

/**
 * Token usage of one model call. `inputTokens` includes cached input (read and written), as
 * OpenAI, OpenTelemetry and MLflow count it; the cache counts say how much of it was cached.
 * Reasoning tokens are part of the output, and kept to be shown.
 */
export interface CallUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

/** A span that made a model call: what it can be priced from. */
export interface LlmCall {
  spanId: string;
  parentSpanId: string | null;
  startMs: number;
  /** `(unknown)` when the span names no model. */
  model: string;
  provider: string | null;
  usage: CallUsage;
  /** A cost the span carried itself; it wins over every price. */
  explicitCost: CallCost | null;
}

/** The model of a call whose span names none: never priced. */
export const UNKNOWN_MODEL = '(unknown)';

/**
 * The model call a span records, or null: a span is a call when it reports token usage
 * (`mlflow.chat.tokenUsage`, which the OTLP mapping fills from the GenAI, OpenInference and
 * Langfuse keys) or a cost of its own. Model and provider come from `mlflow.llm.model` /
 * `mlflow.llm.provider` (what the SDK's OpenAI integration and the OTLP mapping record), else
 * the conventions' own keys.
 */
export function llmCallOf(span: Pick<SpanRecord, 'spanId' | 'parentSpanId' | 'startNs' | 'attributes'>): LlmCall | null {
  const a = span.attributes;
  const usage = usageOf(a[SpanAttributeKey.TOKEN_USAGE]);
  const explicitCost = explicitCostOf(a);
  if (usage === null && explicitCost === null) return null;
  return {
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    startMs: Number(span.startNs / 1_000_000n),
    model: cleanIdValue(a[SpanAttributeKey.LLM_MODEL]) ?? modelOf(a) ?? UNKNOWN_MODEL,
    provider: cleanIdValue(a[SpanAttributeKey.LLM_PROVIDER]) ?? providerOf(a),
    usage: usage ?? { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
    explicitCost,
  };
}

function usageOf(value: unknown): CallUsage | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const input = count(v.input_tokens);
  const output = count(v.output_tokens);
  if (input === null && output === null) return null;
  return {
    inputTokens: input ?? 0,
    outputTokens: output ?? 0,
    cacheReadTokens: count(v.cache_read_input_tokens) ?? 0,
    cacheWriteTokens: count(v.cache_creation_input_tokens) ?? 0,
    reasoningTokens: count(v.reasoning_tokens) ?? 0,
  };
}

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : null;
}

function money(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** A cost object's total (else the sum of its parts) and its input and output parts. */
function costOf(cost: Record<string, unknown> | null, keys: { total: string; input: string; output: string }): CallCost | null {
  if (!cost) return null;
  const inputUsd = money(cost[keys.input]);
  const outputUsd = money(cost[keys.output]);
  const totalUsd = money(cost[keys.total]) ?? (inputUsd !== null || outputUsd !== null ? (inputUsd ?? 0) + (outputUsd ?? 0) : null);
  return totalUsd === null ? null : { totalUsd, inputUsd, outputUsd };
}

/**
 * A cost the span already carries, in USD, in the first of the conventions that has one:
 * MLflow's `mlflow.llm.cost`, OpenTelemetry's `gen_ai.usage.cost`, OpenInference's `llm.cost.*`,
 * Langfuse's `cost_details`.
 */
export function explicitCostOf(a: Record<string, unknown>): CallCost | null {
  const genAi = money(a['gen_ai.usage.cost']);
  return (
    costOf(objectOf(a[SpanAttributeKey.LLM_COST]), { total: 'total_cost', input: 'input_cost', output: 'output_cost' }) ??
    (genAi !== null ? { totalUsd: genAi, inputUsd: null, outputUsd: null } : null) ??
    costOf({ total: a['llm.cost.total'], prompt: a['llm.cost.prompt'], completion: a['llm.cost.completion'] }, { total: 'total', input: 'prompt', output: 'completion' }) ??
    costOf(objectOf(a['langfuse.observation.cost_details']), { total: 'total', input: 'input', output: 'output' })
  );
}

/**
 * Which calls count toward their trace's cost: a call whose span has a descendant that is also a
 * call is left out, since its usage is their aggregate (an agent's or a wrapper's total). This
 * is the OTLP token rule (innermost), which keeps the model that was actually called.
 * `parentOf` knows every span of the trace, not only the calls.
 */
export function countedCalls(calls: readonly Pick<LlmCall, 'spanId'>[], parentOf: ReadonlyMap<string, string | null>): Set<string> {
  const isCall = new Set(calls.map((c) => c.spanId));
  const aggregates = new Set<string>();
  for (const call of calls) {
    const seen = new Set<string>([call.spanId]);
    let parent = parentOf.get(call.spanId) ?? null;
    while (parent !== null && !seen.has(parent)) {
      if (isCall.has(parent)) aggregates.add(parent);
      seen.add(parent);
      parent = parentOf.get(parent) ?? null;
    }
  }
  return new Set([...isCall].filter((id) => !aggregates.has(id)));
}
