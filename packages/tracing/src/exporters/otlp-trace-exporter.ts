import type { Attributes } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanAttributeKey, TraceMetadataKey, type TraceInfoJson } from '@threadline/protocol';
import { OtelAttributeKey } from '../constants.js';
import { recordedJsonText } from '../json-text.js';
import { RestClient, type TrackingServerOptions } from '../rest-client.js';
import { exportedValuesOf } from '../trace-record.js';
import { ExperimentIdResolver, type ExperimentOptions } from './experiment-id.js';
import { asRequestError, exportResult, ThreadlineRequestError, type ExportFailure, type ExportResult, type FinishedTrace, type TraceExporter } from './trace-exporter.js';

export interface OtlpTraceExporterOptions extends TrackingServerOptions, ExperimentOptions {
  /** Path of the OTLP/HTTP traces endpoint under the tracking URI. Default `/v1/traces`. */
  path?: string;
}

/** Header naming the experiment of an OTLP request, as MLflow's `/v1/traces` requires it. */
export const EXPERIMENT_ID_HEADER = 'x-mlflow-experiment-id';
/** Trace tags travel as root-span attributes `mlflow.traceTag.<key>` (read back as tags). */
const TRACE_TAG_PREFIX = 'mlflow.traceTag.';

/**
 * Exports finished traces as OTLP/HTTP protobuf (`POST <trackingUri>/v1/traces`, header
 * `x-mlflow-experiment-id`), one request per batch, for servers that ingest OpenTelemetry (Threadline,
 * MLflow ≥ 3.x, other OTLP backends). Each span carries, in MLflow's OTLP convention:
 * `mlflow.spanType`, `mlflow.spanInputs` / `mlflow.spanOutputs` and object attributes as the JSON
 * text recorded at the call, every `mlflow.*` string JSON-encoded; the root also the trace's user
 * and session (`mlflow.trace.user` / `mlflow.trace.session` and OpenTelemetry's `user.id` /
 * `session.id`) and its tags (`mlflow.traceTag.<key>`). Same queue, batching and retries as the
 * REST exporter: a connection error, timeout, 408, 429 or 5xx fails the batch transiently.
 *
 * @example
 * init({ trackingUri: 'http://127.0.0.1:5000', experimentId: '0', exporter: 'otlp' });
 * // or
 * init({ exporter: new OtlpTraceExporter({ trackingUri: 'http://127.0.0.1:5000', experimentId: '0' }) });
 */
export class OtlpTraceExporter implements TraceExporter {
  private readonly rest: RestClient;
  private readonly path: string;
  private readonly experimentId: ExperimentIdResolver;

  constructor(options: OtlpTraceExporterOptions) {
    this.rest = new RestClient(options);
    this.path = options.path ?? '/v1/traces';
    this.experimentId = new ExperimentIdResolver(this.rest, options);
  }

  async export(traces: readonly FinishedTrace[]): Promise<ExportResult> {
    const experimentId = await this.experimentId.forBatch(traces);
    if (typeof experimentId !== 'string') return experimentId;
    // A trace that cannot be converted is dropped alone (not retryable); the others go.
    const failures: ExportFailure[] = [];
    const sent: FinishedTrace[] = [];
    const spans: ReadableSpan[] = [];
    for (const trace of traces) {
      try {
        spans.push(...otlpSpans(trace, trace.traceInfo(experimentId)));
        sent.push(trace);
      } catch (error) {
        failures.push({ trace, error: new ThreadlineRequestError('exporter-error', `Trace ${trace.traceId} could not be converted to OTLP: ${String(error)}`, { cause: error }) });
      }
    }
    if (sent.length === 0) return exportResult(failures);
    try {
      const body = ProtobufTraceSerializer.serializeRequest(spans);
      if (body === undefined) throw new ThreadlineRequestError('exporter-error', 'The OTLP serializer produced no request body');
      await this.rest.requestBytes('POST', this.path, body, 'application/x-protobuf', { [EXPERIMENT_ID_HEADER]: experimentId });
    } catch (error) {
      const failure = asRequestError(error);
      for (const trace of sent) failures.push({ trace, error: failure });
    }
    return exportResult(failures);
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The spans of a trace as OTLP will carry them: the OpenTelemetry spans with Threadline's recorded
 * values as attributes. The trace's root is sent without a parent (as in `traces.json`) unless its
 * parent is remote: a trace continued from a caller's `traceparent` then joins the caller's spans on
 * the server.
 */
export function otlpSpans(trace: FinishedTrace, info: TraceInfoJson): ReadableSpan[] {
  const root = trace.spans[0];
  return trace.spans.map((span) => {
    // Masked and redacted as in traces.json.
    const values = exportedValuesOf(trace, span);
    const attributes: Attributes = {};
    for (const key in values.attributes) {
      const value = values.attributes[key];
      // MLflow's exporters JSON-encode every mlflow.* value; servers decode them once.
      attributes[key] = key.startsWith('mlflow.') && typeof value === 'string' ? JSON.stringify(value) : value;
    }
    if (values.inputs !== undefined) attributes[SpanAttributeKey.INPUTS] = recordedJsonText(values.inputs);
    if (values.extraAttributes !== undefined) for (const [key, value] of values.extraAttributes) attributes[key] = recordedJsonText(value);
    if (values.outputs !== undefined) attributes[SpanAttributeKey.OUTPUTS] = recordedJsonText(values.outputs);
    let parentSpanContext = span.parentSpanContext;
    if (span === root) {
      Object.assign(attributes, rootAttributes(info));
      if (parentSpanContext !== undefined && parentSpanContext.isRemote !== true) parentSpanContext = undefined;
    }
    return {
      name: span.name,
      kind: span.kind,
      spanContext: () => span.spanContext(),
      parentSpanContext,
      startTime: span.startTime,
      endTime: span.endTime,
      status: values.status,
      attributes,
      links: span.links,
      events: values.events,
      duration: span.duration,
      ended: span.ended,
      resource: span.resource,
      instrumentationScope: span.instrumentationScope,
      droppedAttributesCount: span.droppedAttributesCount,
      droppedEventsCount: span.droppedEventsCount,
      droppedLinksCount: span.droppedLinksCount,
    };
  });
}

/** What the root span carries of the trace: user, session (both conventions) and tags. */
function rootAttributes(info: TraceInfoJson): Attributes {
  const attributes: Attributes = {};
  const user = info.trace_metadata?.[TraceMetadataKey.USER];
  const session = info.trace_metadata?.[TraceMetadataKey.SESSION];
  if (user !== undefined) {
    attributes[TraceMetadataKey.USER] = JSON.stringify(user);
    attributes[OtelAttributeKey.USER_ID] = user;
  }
  if (session !== undefined) {
    attributes[TraceMetadataKey.SESSION] = JSON.stringify(session);
    attributes[OtelAttributeKey.SESSION_ID] = session;
  }
  for (const [key, value] of Object.entries(info.tags ?? {})) attributes[TRACE_TAG_PREFIX + key] = JSON.stringify(value);
  return attributes;
}
