import {
  EXPECTATION_SERIALIZATION_FORMAT,
  TraceLocationType,
  TraceMetadataKey,
  TraceTagKey,
  type AssessmentJson,
  type ExperimentJson,
  type KeyValueJson,
  type TraceInfoJson,
  type TraceInfoV2Json,
} from '@threadline/protocol';
import type { Experiment } from '../store/store.js';
import type { StoredAssessment, StoredTrace } from '../trace-model.js';

/** Where MLflow clients find a trace's `traces.json`: under its experiment's artifact location. */
export function traceArtifactLocation(experimentArtifactLocation: string, traceId: string): string {
  return `${experimentArtifactLocation.replace(/\/+$/, '')}/traces/${traceId}/artifacts`;
}

/** TraceInfoV3 JSON, with the `mlflow.artifactLocation` tag the MLflow SDKs need to upload spans. */
export function traceInfoJson(trace: StoredTrace, experimentArtifactLocation: string): TraceInfoJson {
  const info: TraceInfoJson = {
    trace_id: trace.traceId,
    trace_location: { type: TraceLocationType.MLFLOW_EXPERIMENT, mlflow_experiment: { experiment_id: trace.experimentId } },
  };
  if (trace.clientRequestId !== null) info.client_request_id = trace.clientRequestId;
  if (trace.requestPreview !== null) info.request_preview = trace.requestPreview;
  if (trace.responsePreview !== null) info.response_preview = trace.responsePreview;
  info.request_time = new Date(trace.requestTimeMs).toISOString();
  if (trace.executionDurationMs !== null) info.execution_duration = durationJson(trace.executionDurationMs);
  info.state = trace.state;
  info.trace_metadata = withTokenUsage(trace);
  info.tags = { ...trace.tags, [TraceTagKey.ARTIFACT_LOCATION]: traceArtifactLocation(experimentArtifactLocation, trace.traceId) };
  info.assessments = trace.assessments.map(assessmentJson);
  return info;
}

/**
 * An assessment as MLflow writes it: times as RFC 3339, feedback `value` of any JSON type,
 * an expectation's number, boolean or string as `value` and anything else as `serialized_value`.
 */
export function assessmentJson(a: StoredAssessment): AssessmentJson {
  const json: AssessmentJson = {
    assessment_id: a.assessmentId,
    assessment_name: a.name,
    ...(a.traceId !== null ? { trace_id: a.traceId } : {}),
    ...(a.session !== null ? { session_id: a.session.sessionId } : {}),
    source: { source_type: a.source.sourceType, source_id: a.source.sourceId },
    create_time: new Date(a.createTimeMs).toISOString(),
    last_update_time: new Date(a.lastUpdateTimeMs).toISOString(),
  };
  if (a.spanId !== null) json.span_id = a.spanId;
  if (a.kind === 'feedback') {
    json.feedback = { value: a.value ?? null };
    if (a.error) {
      json.feedback.error = {
        ...(a.error.errorCode !== null ? { error_code: a.error.errorCode } : {}),
        ...(a.error.errorMessage !== null ? { error_message: a.error.errorMessage } : {}),
        ...(a.error.stackTrace !== null ? { stack_trace: a.error.stackTrace } : {}),
      };
    }
  } else {
    const scalar = typeof a.value === 'string' || typeof a.value === 'number' || typeof a.value === 'boolean';
    json.expectation = scalar ? { value: a.value } : { serialized_value: { serialization_format: EXPECTATION_SERIALIZATION_FORMAT, value: JSON.stringify(a.value) } };
  }
  if (a.rationale !== null) json.rationale = a.rationale;
  if (Object.keys(a.metadata).length > 0) json.metadata = a.metadata;
  if (a.overrides !== null) json.overrides = a.overrides;
  json.valid = a.valid;
  return json;
}

/**
 * Metadata as stored, plus `mlflow.trace.tokenUsage` when the tokens were derived from spans (OTLP,
 * or an SDK that did not sum them) and `mlflow.trace.cost` when the server priced its calls:
 * MLflow clients read the trace's usage and cost from those keys.
 */
function withTokenUsage(trace: StoredTrace): Record<string, string> {
  const derived: Record<string, string> = {};
  if (trace.tokenUsage !== null && !(TraceMetadataKey.TOKEN_USAGE in trace.metadata)) {
    const { inputTokens, outputTokens, totalTokens } = trace.tokenUsage;
    derived[TraceMetadataKey.TOKEN_USAGE] = JSON.stringify({ input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: totalTokens });
  }
  // The server's price of the trace's calls (MLflow's server computes it too); a client's own value is kept.
  if (trace.cost !== null && !(TraceMetadataKey.COST in trace.metadata)) derived[TraceMetadataKey.COST] = JSON.stringify(trace.cost);
  return Object.keys(derived).length === 0 ? trace.metadata : { ...trace.metadata, ...derived };
}

/** A protobuf Duration in JSON: seconds with 0 or 3 fractional digits, e.g. `"0.002s"`, `"3s"`. */
export function durationJson(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3)}s`;
}

/** Legacy V2 trace info, for the `/api/2.0/mlflow/traces` endpoints. */
export function traceInfoV2Json(trace: StoredTrace, experimentArtifactLocation: string): TraceInfoV2Json {
  const tags = { ...trace.tags, [TraceTagKey.ARTIFACT_LOCATION]: traceArtifactLocation(experimentArtifactLocation, trace.traceId) };
  const info: TraceInfoV2Json = {
    request_id: trace.traceId,
    experiment_id: trace.experimentId,
    timestamp_ms: trace.requestTimeMs,
    status: trace.state === 'STATE_UNSPECIFIED' ? 'TRACE_STATUS_UNSPECIFIED' : trace.state,
    request_metadata: keyValueList(trace.metadata),
    tags: keyValueList(tags),
  };
  if (trace.executionDurationMs !== null) info.execution_time_ms = trace.executionDurationMs;
  return info;
}

export function keyValueList(map: Record<string, string>): KeyValueJson[] {
  return Object.entries(map).map(([key, value]) => ({ key, value }));
}

export function experimentJson(e: Experiment): ExperimentJson {
  return {
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: e.artifactLocation,
    lifecycle_stage: e.lifecycleStage,
    last_update_time: e.lastUpdateTime,
    creation_time: e.creationTime,
    tags: keyValueList(e.tags),
  };
}
