import type { AssessmentJson } from './assessment.js';

export const TraceState = {
  STATE_UNSPECIFIED: 'STATE_UNSPECIFIED',
  OK: 'OK',
  ERROR: 'ERROR',
  IN_PROGRESS: 'IN_PROGRESS',
} as const;
export type TraceState = (typeof TraceState)[keyof typeof TraceState];

export const TraceLocationType = {
  UNSPECIFIED: 'TRACE_LOCATION_TYPE_UNSPECIFIED',
  MLFLOW_EXPERIMENT: 'MLFLOW_EXPERIMENT',
  INFERENCE_TABLE: 'INFERENCE_TABLE',
} as const;
export type TraceLocationType = (typeof TraceLocationType)[keyof typeof TraceLocationType];

export interface TraceLocationJson {
  type: TraceLocationType | string;
  mlflow_experiment?: { experiment_id: string };
  inference_table?: { full_table_name: string };
}

/**
 * TraceInfoV3 as protobuf JSON (snake_case). `request_time` is RFC 3339, `execution_duration`
 * a protobuf Duration such as `"1.5s"`.
 */
export interface TraceInfoJson {
  trace_id: string;
  client_request_id?: string;
  trace_location: TraceLocationJson;
  request_preview?: string;
  response_preview?: string;
  request_time?: string;
  execution_duration?: string;
  state?: TraceState | string;
  trace_metadata?: Record<string, string>;
  tags?: Record<string, string>;
  assessments?: AssessmentJson[];
}

/** Legacy V2 trace info, used by the `/api/2.0/mlflow/traces` endpoints. */
export interface TraceInfoV2Json {
  request_id: string;
  experiment_id: string;
  timestamp_ms: number;
  execution_time_ms?: number;
  status: 'TRACE_STATUS_UNSPECIFIED' | 'OK' | 'ERROR' | 'IN_PROGRESS';
  request_metadata: KeyValueJson[];
  tags: KeyValueJson[];
}

export interface KeyValueJson {
  key: string;
  value: string;
}
