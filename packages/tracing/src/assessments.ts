import { AssessmentSourceType, EXPECTATION_SERIALIZATION_FORMAT, type AssessmentJson } from '@threadline/protocol';

/** Who gave an assessment: a person (HUMAN, with their id), a judge model, or code. */
export interface AssessmentSource {
  sourceType: AssessmentSourceType;
  /** The person's or the judge's id. Default `"default"`, as in MLflow. */
  sourceId?: string;
}

/** An assessment as the SDK hands it back (times in ms since the epoch). */
export interface Assessment {
  assessmentId: string;
  name: string;
  traceId: string;
  spanId?: string;
  source: AssessmentSource;
  createTime: number;
  lastUpdateTime: number;
  /** Present on feedback: its value (any JSON) or the error met producing it. */
  feedback?: { value?: unknown; error?: { errorCode?: string; errorMessage?: string; stackTrace?: string } };
  /** Present on an expectation: the expected value. */
  expectation?: { value: unknown };
  rationale?: string;
  metadata: Record<string, string>;
  /** The id of the assessment this one replaces. */
  overrides?: string;
  /** False once another assessment overrides this one. */
  valid: boolean;
}

interface CommonOptions {
  /** Default `{ sourceType: 'CODE' }`, as in MLflow's TypeScript SDK. */
  source?: AssessmentSource;
  metadata?: Record<string, string>;
  /** The span the assessment is about, when it is about one span rather than the whole trace. */
  spanId?: string;
}

export interface LogFeedbackOptions extends CommonOptions {
  /** E.g. `"user_satisfaction"`. Default `"feedback"`, as in MLflow. */
  name?: string;
  /** Any JSON value: `true`, `4`, `"good"`, a list or an object. */
  value?: unknown;
  /** What went wrong producing the feedback (a judge that failed), instead of a value. */
  error?: Error | { errorCode?: string; errorMessage?: string; stackTrace?: string };
  rationale?: string;
}

export interface LogExpectationOptions extends CommonOptions {
  name: string;
  value: unknown;
}

export interface OverrideFeedbackOptions extends CommonOptions {
  /** The corrected value. */
  value: unknown;
  rationale?: string;
}

/** What `updateAssessment` may change; only the fields given are sent (MLflow's update_mask). */
export interface AssessmentChanges {
  name?: string;
  feedbackValue?: unknown;
  expectationValue?: unknown;
  rationale?: string;
  /** Merged into the stored metadata. */
  metadata?: Record<string, string>;
}

const DEFAULT_SOURCE: AssessmentSource = { sourceType: AssessmentSourceType.CODE };

function sourceJson(source: AssessmentSource | undefined): NonNullable<AssessmentJson['source']> {
  const { sourceType, sourceId } = source ?? DEFAULT_SOURCE;
  return { source_type: sourceType, source_id: sourceId ?? 'default' };
}

/** The MLflow JSON of new feedback. */
export function feedbackJson(traceId: string, options: LogFeedbackOptions): AssessmentJson {
  const error = options.error;
  return {
    assessment_name: options.name ?? 'feedback',
    trace_id: traceId,
    source: sourceJson(options.source),
    feedback:
      error === undefined
        ? { value: options.value ?? null }
        : {
            ...(options.value !== undefined ? { value: options.value } : {}),
            error:
              error instanceof Error
                ? { error_code: error.name, error_message: error.message, ...(error.stack ? { stack_trace: error.stack } : {}) }
                : { ...(error.errorCode ? { error_code: error.errorCode } : {}), ...(error.errorMessage ? { error_message: error.errorMessage } : {}), ...(error.stackTrace ? { stack_trace: error.stackTrace } : {}) },
          },
    ...(options.rationale !== undefined ? { rationale: options.rationale } : {}),
    ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
    ...(options.spanId !== undefined ? { span_id: options.spanId } : {}),
  };
}

/** The MLflow JSON of a new expectation: scalars as `value`, anything else serialized, as MLflow sends them. */
export function expectationJson(traceId: string, options: LogExpectationOptions): AssessmentJson {
  return {
    assessment_name: options.name,
    trace_id: traceId,
    source: sourceJson(options.source ?? { sourceType: AssessmentSourceType.HUMAN }),
    expectation: expectationValueJson(options.value),
    ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
    ...(options.spanId !== undefined ? { span_id: options.spanId } : {}),
  };
}

function expectationValueJson(value: unknown): NonNullable<AssessmentJson['expectation']> {
  const scalar = value === null || ['string', 'number', 'boolean'].includes(typeof value);
  return scalar ? { value } : { serialized_value: { serialization_format: EXPECTATION_SERIALIZATION_FORMAT, value: JSON.stringify(value) } };
}

/** The body of MLflow's update: the changed fields and the mask that names them. */
export function assessmentUpdateJson(changes: AssessmentChanges): { assessment: Partial<AssessmentJson>; update_mask: string } {
  const assessment: Partial<AssessmentJson> = {};
  const mask: string[] = [];
  if (changes.name !== undefined) (assessment.assessment_name = changes.name), mask.push('assessment_name');
  if (changes.feedbackValue !== undefined) (assessment.feedback = { value: changes.feedbackValue }), mask.push('feedback');
  if (changes.expectationValue !== undefined) (assessment.expectation = expectationValueJson(changes.expectationValue)), mask.push('expectation');
  if (changes.rationale !== undefined) (assessment.rationale = changes.rationale), mask.push('rationale');
  if (changes.metadata !== undefined) (assessment.metadata = changes.metadata), mask.push('metadata');
  return { assessment, update_mask: mask.join(',') };
}

/** An assessment from MLflow's JSON. */
export function assessmentFromJson(json: AssessmentJson): Assessment {
  const expectation = json.expectation;
  const error = json.feedback?.error;
  return {
    assessmentId: json.assessment_id ?? '',
    name: json.assessment_name,
    traceId: json.trace_id ?? '',
    ...(json.span_id ? { spanId: json.span_id } : {}),
    source: { sourceType: (json.source?.source_type ?? AssessmentSourceType.SOURCE_TYPE_UNSPECIFIED) as AssessmentSourceType, ...(json.source?.source_id !== undefined ? { sourceId: json.source.source_id } : {}) },
    createTime: json.create_time ? Date.parse(json.create_time) : 0,
    lastUpdateTime: json.last_update_time ? Date.parse(json.last_update_time) : 0,
    ...(json.feedback
      ? {
          feedback: {
            ...('value' in json.feedback ? { value: json.feedback.value } : {}),
            ...(error ? { error: { ...(error.error_code ? { errorCode: error.error_code } : {}), ...(error.error_message ? { errorMessage: error.error_message } : {}), ...(error.stack_trace ? { stackTrace: error.stack_trace } : {}) } } : {}),
          },
        }
      : {}),
    ...(expectation ? { expectation: { value: expectation.serialized_value ? JSON.parse(expectation.serialized_value.value) : expectation.value } } : {}),
    ...(json.rationale !== undefined ? { rationale: json.rationale } : {}),
    metadata: json.metadata ?? {},
    ...(json.overrides ? { overrides: json.overrides } : {}),
    valid: json.valid ?? true,
  };
}
