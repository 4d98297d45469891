/**
 * Assessments of a trace (MLflow's `assessments.proto`, protobuf JSON with snake_case names):
 * feedback on what the trace did, or an expectation of what it should have done.
 */

/** Who gave an assessment. `AI_JUDGE` is MLflow's deprecated name for `LLM_JUDGE`. */
export const AssessmentSourceType = {
  SOURCE_TYPE_UNSPECIFIED: 'SOURCE_TYPE_UNSPECIFIED',
  HUMAN: 'HUMAN',
  LLM_JUDGE: 'LLM_JUDGE',
  CODE: 'CODE',
} as const;
export type AssessmentSourceType = (typeof AssessmentSourceType)[keyof typeof AssessmentSourceType];

export interface AssessmentSourceJson {
  source_type: AssessmentSourceType | string;
  /** A user name for HUMAN, a judge for LLM_JUDGE; MLflow's default is `"default"`. */
  source_id?: string;
}

export interface AssessmentErrorJson {
  error_code?: string;
  error_message?: string;
  stack_trace?: string;
}

/** Feedback: a value of any JSON type, or the error met while producing it. */
export interface FeedbackJson {
  value?: unknown;
  error?: AssessmentErrorJson;
}

/** Only serialization format MLflow reads or writes. */
export const EXPECTATION_SERIALIZATION_FORMAT = 'JSON_FORMAT';

/**
 * An expectation: a number, boolean or string travels as `value`; anything else (lists, objects)
 * as `serialized_value` holding its JSON text, as MLflow writes it.
 */
export interface ExpectationJson {
  value?: unknown;
  serialized_value?: { serialization_format: string; value: string };
}

export interface AssessmentJson {
  /** `a-` followed by 32 lowercase hex digits; chosen by the server. */
  assessment_id?: string;
  assessment_name: string;
  /** The trace assessed; absent on an assessment of a whole session. */
  trace_id?: string;
  /** Threadline: the session assessed as a whole (`/api/threadline/sessions/{session_id}/assessments`). */
  session_id?: string;
  span_id?: string;
  source?: AssessmentSourceJson;
  /** RFC 3339 timestamps, like every protobuf Timestamp in JSON. */
  create_time?: string;
  last_update_time?: string;
  /** Exactly one of `feedback` and `expectation`. */
  feedback?: FeedbackJson;
  expectation?: ExpectationJson;
  rationale?: string;
  metadata?: Record<string, string>;
  /** The id of the assessment this one replaces; that one is then `valid: false`. */
  overrides?: string;
  /** False once another assessment overrides this one. */
  valid?: boolean;
}

/** Prefix of every assessment id. */
export const ASSESSMENT_ID_PREFIX = 'a-';

/** `POST /api/3.0/mlflow/traces/{trace_id}/assessments`. */
export interface CreateAssessmentRequest {
  assessment: AssessmentJson;
}
/** The answer to `GET /api/threadline/sessions/{session_id}/assessments?experiment_id=…`. */
export interface ListAssessmentsResponse {
  assessments: AssessmentJson[];
}
/** The answer to create, get and update. */
export interface AssessmentResponse {
  assessment: AssessmentJson;
}
/**
 * `PATCH /api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}`. `update_mask` is a
 * protobuf FieldMask: in JSON a comma-separated list of field names (`"rationale,feedback"`).
 * Fields that may change: assessment_name, feedback, expectation, rationale, metadata (merged
 * into the stored map), valid.
 */
export interface UpdateAssessmentRequest {
  assessment: Partial<AssessmentJson>;
  update_mask: string;
}
