import { requestPreview, responsePreview, SpanAttributeKey, TraceMetadataKey } from '@threadline/protocol';
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

/** What token sums need of a span. */
export type UsageSpan = Pick<SpanRecord, 'spanId' | 'parentSpanId' | 'attributes'>;

/**
 * Sums the token usage of spans without counting one model call twice. By default (the MLflow
 * SDKs' rule) a span whose ancestor already reported usage is skipped: a wrapper that records
 * its LLM call's usage counts once. With `prefer: 'innermost'` (OTLP, otel-mapping.md §11.C) a
 * span is skipped when a descendant reports usage, since there the inner span is the model call
 * and outer ones carry aggregates.
 */
export function tokenUsageFromSpans(spans: readonly UsageSpan[], options: { prefer?: 'outermost' | 'innermost' } = {}): TokenCounts | null {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const usage = new Map<string, TokenCounts>();
  for (const span of spans) {
    const counts = toTokenCounts(span.attributes[SpanAttributeKey.TOKEN_USAGE]);
    if (counts) usage.set(span.spanId, counts);
  }
  if (usage.size === 0) return null;
  // Innermost: a span is skipped when it is the ancestor of another span with usage.
  const outer = new Set<string>();
  if (options.prefer === 'innermost') {
    for (const spanId of usage.keys()) for (const ancestor of ancestorsOf(spanId, byId)) outer.add(ancestor);
  }
  const total: TokenCounts = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
  for (const [spanId, counts] of usage) {
    if (options.prefer === 'innermost' ? outer.has(spanId) : ancestorsOf(spanId, byId).some((a) => usage.has(a))) continue;
    total.inputTokens += counts.inputTokens;
    total.outputTokens += counts.outputTokens;
    total.totalTokens += counts.totalTokens;
  }
  return total;
}

function ancestorsOf(spanId: string, byId: Map<string, UsageSpan>): string[] {
  const seen = new Set<string>([spanId]);
  const ancestors: string[] = [];
  let parent = byId.get(spanId)?.parentSpanId ?? null;
  while (parent !== null && !seen.has(parent)) {
    ancestors.push(parent);
    seen.add(parent);
    parent = byId.get(parent)?.parentSpanId ?? null;
  }
  return ancestors;
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

/**
 * Previews of a trace that arrived without them, from its root span's inputs and outputs: built
 * as the SDK builds its own (the last user message and the reply of a chat, else the JSON), so a
 * trace reads the same in the UI whether it came over OTLP or the MLflow API.
 */
export function rootPreviews(root: SpanRecord | undefined): { request: string | null; response: string | null } {
  const inputs = root?.attributes[SpanAttributeKey.INPUTS];
  const outputs = root?.attributes[SpanAttributeKey.OUTPUTS];
  return { request: inputs === undefined ? null : requestPreview(inputs), response: outputs === undefined ? null : responsePreview(outputs) };
}
