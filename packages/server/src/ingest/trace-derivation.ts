import { REQUEST_RESPONSE_PREVIEW_MAX_LENGTH, SpanAttributeKey, TraceMetadataKey } from '@threadline/protocol';
import type { SpanRecord, TokenCounts } from '../trace-model.js';

/**
 * Token usage of a trace as its SDK reported it in metadata `mlflow.trace.tokenUsage`,
 * or null when absent or unreadable.
 */
export function tokenUsageFromMetadata(metadata: Record<string, string>): TokenCounts | null {
  const raw = metadata[TraceMetadataKey.TOKEN_USAGE];
  if (raw === undefined) return null;
  try {
    return toTokenCounts(JSON.parse(raw));
  } catch {
    return null;
  }
}

/**
 * Sums the token usage of spans, skipping a span whose ancestor already reported usage (an LLM
 * call wrapped by a span that also records it must not count twice), as the MLflow SDKs do.
 */
export function tokenUsageFromSpans(spans: readonly SpanRecord[]): TokenCounts | null {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const usage = new Map<string, TokenCounts>();
  for (const span of spans) {
    const counts = toTokenCounts(span.attributes[SpanAttributeKey.TOKEN_USAGE]);
    if (counts) usage.set(span.spanId, counts);
  }
  if (usage.size === 0) return null;
  const total: TokenCounts = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
  for (const [spanId, counts] of usage) {
    if (hasAncestorIn(spanId, byId, usage)) continue;
    total.inputTokens += counts.inputTokens;
    total.outputTokens += counts.outputTokens;
    total.totalTokens += counts.totalTokens;
  }
  return total;
}

function hasAncestorIn(spanId: string, byId: Map<string, SpanRecord>, usage: Map<string, TokenCounts>): boolean {
  const seen = new Set<string>([spanId]);
  let parent = byId.get(spanId)?.parentSpanId ?? null;
  while (parent !== null && !seen.has(parent)) {
    if (usage.has(parent)) return true;
    seen.add(parent);
    parent = byId.get(parent)?.parentSpanId ?? null;
  }
  return false;
}

function toTokenCounts(value: unknown): TokenCounts | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const input = finite(v.input_tokens);
  const output = finite(v.output_tokens);
  const total = finite(v.total_tokens) ?? (input ?? 0) + (output ?? 0);
  if (input === null && output === null && finite(v.total_tokens) === null) return null;
  return { inputTokens: input ?? 0, outputTokens: output ?? 0, totalTokens: total };
}

function finite(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The root span: the one without a parent (the earliest, if several claim to be). */
export function findRootSpan(spans: readonly SpanRecord[]): SpanRecord | undefined {
  let root: SpanRecord | undefined;
  for (const span of spans) {
    if (span.parentSpanId === null && (!root || span.startNs < root.startNs)) root = span;
  }
  return root;
}

/** A preview of a span's inputs or outputs, cut as MLflow cuts them (997 characters + `...`). */
export function previewOf(value: unknown): string | null {
  if (value === undefined) return null;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > REQUEST_RESPONSE_PREVIEW_MAX_LENGTH ? `${text.slice(0, REQUEST_RESPONSE_PREVIEW_MAX_LENGTH - 3)}...` : text;
}
