/**
 * Requests exactly as the official MLflow TypeScript SDK sends them (wire protocol §3.11), with
 * ids and values that tests can vary. Bodies are built as text where nanosecond integers above
 * 2^53 must stay exact, since `JSON.stringify` cannot write them.
 */

export interface TraceInfoOptions {
  traceId: string;
  experimentId?: string;
  user?: string;
  session?: string;
  state?: 'OK' | 'ERROR';
  requestTime?: string;
  executionDuration?: string;
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  clientRequestId?: string;
  requestPreview?: string;
  responsePreview?: string;
}

/** Body of `POST /api/3.0/mlflow/traces` (StartTraceV3), shaped like §3.11 example 1. */
export function startTraceBody(o: TraceInfoOptions): Record<string, unknown> {
  const metadata: Record<string, string> = { 'mlflow.trace_schema.version': '3', ...o.metadata };
  if (o.session !== undefined) metadata['mlflow.trace.session'] = o.session;
  if (o.user !== undefined) metadata['mlflow.trace.user'] = o.user;
  const info: Record<string, unknown> = {
    trace_id: o.traceId,
    trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: o.experimentId ?? '0' } },
    request_preview: o.requestPreview ?? '{"a":2,"b":3}',
    response_preview: o.responsePreview ?? '11',
    request_time: o.requestTime ?? '2026-11-23T19:51:26.775Z',
    execution_duration: o.executionDuration ?? '0.002s',
    state: o.state ?? 'OK',
    trace_metadata: metadata,
    tags: o.tags ?? { fruit: 'apple' },
    assessments: [],
  };
  if (o.clientRequestId !== undefined) info.client_request_id = o.clientRequestId;
  return { trace: { trace_info: info } };
}

/** The mangled base64 `trace_id` the TypeScript SDK writes into spans (§3.8): never to be trusted. */
export const MANGLED_SPAN_TRACE_ID = 'APYCmaw3SJPct58JtaeVqg==';

/** Body of the `traces.json` upload in §3.11 example 2, as text: a CHAIN root and an LLM child. */
export function tracesJsonText(traceId: string, startNs = '1795463486775000000'): string {
  const start = BigInt(startNs);
  return `{"spans":[{"trace_id":"${MANGLED_SPAN_TRACE_ID}","span_id":"8MA1SDFQpsg=","parent_span_id":"","name":"add",` +
    `"start_time_unix_nano":${start},"end_time_unix_nano":${start + 2437333n},` +
    `"status":{"code":"STATUS_CODE_OK","message":""},` +
    `"attributes":{"mlflow.traceRequestId":"${traceId}","mlflow.spanType":"CHAIN","mlflow.spanInputs":{"a":2,"b":3},"mlflow.spanOutputs":11},"events":[]},` +
    `{"trace_id":"${MANGLED_SPAN_TRACE_ID}","span_id":"pSmHSzBsqdg=","parent_span_id":"8MA1SDFQpsg=","name":"inner",` +
    `"start_time_unix_nano":${start + 1000000n},"end_time_unix_nano":${start + 1485684n},` +
    `"status":{"code":"STATUS_CODE_OK","message":""},` +
    `"attributes":{"mlflow.traceRequestId":"${traceId}","mlflow.spanType":"LLM","mlflow.spanInputs":{"a":2,"b":3},"custom.num":5,` +
    `"mlflow.chat.tokenUsage":{"input_tokens":3,"output_tokens":4,"total_tokens":7},"mlflow.spanOutputs":6},"events":[]}]}`;
}

/** The same two spans in the Python SDK's form: every attribute value JSON-encoded. */
export function pythonTracesJsonText(traceId: string): string {
  const encode = (v: unknown) => JSON.stringify(JSON.stringify(v));
  return `{"spans":[{"trace_id":"oCmaw3SJPct58JtaeVqg6A==","span_id":"8MA1SDFQpsg=","parent_span_id":null,"name":"add",` +
    `"start_time_unix_nano":1795463486775000001,"end_time_unix_nano":1795463486777437333,` +
    `"status":{"code":"STATUS_CODE_OK","message":""},` +
    `"attributes":{"mlflow.traceRequestId":${encode(traceId)},"mlflow.spanType":${encode('CHAIN')},"mlflow.spanInputs":${encode({ q: 'hi' })},"mlflow.spanOutputs":${encode('hello')}},"events":[]}]}`;
}

/** §3.11 example 3: a failing trace's span, with an exception event. */
export function failingTracesJsonText(traceId: string): string {
  return `{"spans":[{"trace_id":"APMewX91Y/AsqFdSoFg/CA==","span_id":"yKKiu+KLyDQ=","parent_span_id":"","name":"failing",` +
    `"start_time_unix_nano":1795463486781000000,"end_time_unix_nano":1795463486781746072,` +
    `"status":{"code":"STATUS_CODE_ERROR","message":"boom"},` +
    `"attributes":{"mlflow.traceRequestId":"${traceId}","mlflow.spanType":"UNKNOWN"},` +
    `"events":[{"name":"exception","time_unix_nano":1795463486781733443,"attributes":{"exception.type":"Error","exception.message":"boom","exception.stacktrace":"Error: boom\\n    at mlflow.withSpan.name"}}]}]}`;
}

/** The artifact path the SDK derives from `mlflow.artifactLocation` for a trace's span upload. */
export function tracesJsonPath(traceId: string, experimentId = '0'): string {
  return `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/traces/${traceId}/artifacts/traces.json`;
}

let counter = 0;
/** A fresh V3 trace id, unique within the test process. */
export function newTraceId(): string {
  counter += 1;
  return `tr-${(Date.now().toString(16) + counter.toString(16).padStart(8, '0')).padStart(32, '0').slice(-32)}`;
}
