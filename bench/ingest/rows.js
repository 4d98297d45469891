/**
 * The database rows the server stores for one trace of the workload, computed with the server's
 * own parsing and derivation code (so the raw baseline writes byte-identical rows), outside any
 * timed region. What the store does with them is mirrored from
 * packages/server/src/store/kysely-store.ts (startTrace + logSpans) and rollups.ts; the run
 * checks at the end that both databases hold exactly the same rows.
 */
import { parseJsonBody } from '../../packages/server/dist/ingest/json-body.js';
import { parseMlflowSpans } from '../../packages/server/dist/ingest/mlflow-spans.js';
import { parseStartTraceRequest } from '../../packages/server/dist/ingest/mlflow-trace-info.js';
import { spanToMlflowJson } from '../../packages/server/dist/ingest/span-json.js';
import { findRootSpan, rootPreviews, tokenUsageFromMetadata, tokenUsageFromSpans } from '../../packages/server/dist/ingest/trace-derivation.js';
import { PriceBook } from '../../packages/server/dist/cost/price-book.js';
import { pricedNewTrace } from '../../packages/server/dist/store/cost-writes.js';

const INFO_FINALIZED = 'mlflow.trace.infoFinalized';
const TRACE_NAME = 'mlflow.traceName';
const SPANS_LOCATION = 'mlflow.trace.spansLocation';
const SPANS_LOCATION_TRACKING_STORE = 'TRACKING_STORE';

/**
 * @typedef {{
 *   trace: Record<string, string | number | null>,
 *   metadata: [string, string][],
 *   tags: [string, string][],
 *   spans: Record<string, string | null>[],
 *   calls: Record<string, string | number | null>[],
 * }} TraceRows
 */

/** The bundled price table, as the server prices with when no operator has set a price. */
const BOOK = new PriceBook();

/**
 * @param {{ traceId: string, post: Buffer, put: Buffer }} trace
 * @returns {TraceRows}
 */
export function rowsOf(trace) {
  const record = parseStartTraceRequest(parseJsonBody(trace.post.toString('utf8')));
  const spans = parseMlflowSpans(record.traceId, parseJsonBody(trace.put.toString('utf8')));
  const root = findRootSpan(spans);
  const tokens = tokenUsageFromMetadata(record.metadata) ?? tokenUsageFromSpans(spans);
  const name = record.tags[TRACE_NAME] ?? root?.name ?? null;
  const tags = { ...record.tags };
  if (name !== null) tags[TRACE_NAME] = name;
  tags[SPANS_LOCATION] = SPANS_LOCATION_TRACKING_STORE;
  // The trace's LLM calls priced as the server prices a trace's first spans (cost-writes.ts).
  const priced = pricedNewTrace(Number(record.experimentId), spans, BOOK);
  return {
    trace: {
      trace_id: record.traceId,
      experiment_id: Number(record.experimentId),
      client_request_id: record.clientRequestId,
      request_time: record.requestTimeMs,
      execution_duration: record.executionDurationMs,
      state: record.state,
      request_preview: record.requestPreview ?? rootPreviews(root).request,
      response_preview: record.responsePreview ?? rootPreviews(root).response,
      name,
      user_id: record.metadata['mlflow.trace.user'] ?? null,
      session_id: record.metadata['mlflow.trace.session'] ?? null,
      input_tokens: tokens?.inputTokens ?? null,
      output_tokens: tokens?.outputTokens ?? null,
      total_tokens: tokens?.totalTokens ?? null,
      span_count: spans.length,
      ...priced.cost,
    },
    metadata: Object.entries({ ...record.metadata, [INFO_FINALIZED]: 'true' }),
    tags: Object.entries(tags),
    // Spans and calls without their trace's key, which the database gives as the trace is inserted.
    spans: spans.map((s) => ({
      span_id: s.spanId,
      parent_span_id: s.parentSpanId,
      name: s.name,
      type: s.type,
      status: s.status,
      start_ns: s.startNs.toString(),
      end_ns: s.endNs === null ? null : s.endNs.toString(),
      content: spanToMlflowJson(record.traceId, s),
    })),
    calls: priced.rows,
  };
}
