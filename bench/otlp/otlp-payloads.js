/**
 * The ingest workload's traces (bench/ingest/workload.js) as OTLP: the same spans, attributes
 * JSON-encoded as MLflow's own OTLP exporter sends them, user and session as `user.id` and
 * `session.id` on the root span, under another trace id so both paths can share one database.
 * Encoded as binary protobuf ExportTraceServiceRequests through the server's vendored protos.
 */
import { otlpProtoTypes } from '../../packages/server/dist/ingest/otlp/otlp-proto.js';

const NANO_KEYS = /("(?:start_time_unix_nano|end_time_unix_nano|time_unix_nano)"\s*:\s*)(\d+)/g;
const STATUS = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

const b64 = (hex) => Buffer.from(hex, 'hex');
const keyValues = (attributes) =>
  Object.entries(attributes).map(([key, value]) => ({ key, value: { stringValue: typeof value === 'string' && !key.startsWith('mlflow.') ? value : JSON.stringify(value) } }));

/** The OTLP trace id (hex) used for a workload trace: its MLflow id with the first digit flipped. */
export function otlpTraceHex(mlflowTraceId) {
  const hex = mlflowTraceId.slice(3);
  return ((parseInt(hex[0], 16) ^ 0x8).toString(16)) + hex.slice(1);
}

/** One workload trace's spans as OTLP Span objects (protobufjs form: ids as bytes). */
export function otlpSpansOf(trace) {
  const info = JSON.parse(trace.post.toString('utf8')).trace.trace_info;
  const { spans } = JSON.parse(trace.put.toString('utf8').replace(NANO_KEYS, '$1"$2"'));
  const traceHex = otlpTraceHex(trace.traceId);
  return spans.map((span) => {
    const root = !span.parent_span_id;
    const attributes = { ...span.attributes, 'mlflow.traceRequestId': `tr-${traceHex}` };
    if (root) {
      attributes['user.id'] = info.trace_metadata['mlflow.trace.user'];
      attributes['session.id'] = info.trace_metadata['mlflow.trace.session'];
    }
    return {
      traceId: b64(traceHex),
      spanId: Buffer.from(span.span_id, 'base64'),
      ...(root ? {} : { parentSpanId: Buffer.from(span.parent_span_id, 'base64') }),
      name: span.name,
      kind: 1,
      startTimeUnixNano: span.start_time_unix_nano,
      endTimeUnixNano: span.end_time_unix_nano,
      attributes: keyValues(attributes),
      events: (span.events ?? []).map((e) => ({ name: e.name, timeUnixNano: e.time_unix_nano, attributes: keyValues(e.attributes ?? {}) })),
      status: { code: STATUS[span.status?.code] ?? 0, message: span.status?.message ?? '' },
    };
  });
}

/**
 * Protobuf ExportTraceServiceRequests of `tracesPerRequest` traces each (the way a
 * BatchSpanProcessor mixes several traces in one export).
 *
 * @returns {{ body: Buffer, spans: number }[]}
 */
export function otlpRequestsOf(traces, tracesPerRequest) {
  const { ExportTraceServiceRequest } = otlpProtoTypes();
  const requests = [];
  for (let i = 0; i < traces.length; i += tracesPerRequest) {
    const spans = traces.slice(i, i + tracesPerRequest).flatMap(otlpSpansOf);
    const message = ExportTraceServiceRequest.fromObject({
      resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench-chat-app' } }] }, scopeSpans: [{ scope: { name: 'bench' }, spans }] }],
    });
    requests.push({ body: Buffer.from(ExportTraceServiceRequest.encode(message).finish()), spans: spans.length });
  }
  return requests;
}
