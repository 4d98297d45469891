import { AssessmentSourceType, EXPECTATION_SERIALIZATION_FORMAT, MAX_METADATA_KEY_LENGTH } from '@threadline/protocol';
import { invalidParameter } from '../errors.js';
import { jsonDepthExceeds } from '../json.js';
import { refuseNul } from '../text.js';
import type { AssessmentChanges, AssessmentErrorInfo, AssessmentInput, AssessmentSource, AssessmentValue } from '../trace-model.js';
import { isObject } from './mlflow-spans.js';
import { MAX_METADATA_VALUE_CHARS, parseRfc3339Millis, parseStringMap } from './mlflow-trace-info.js';

/** Longest assessment name; MLflow's column holds 250 characters. */
export const MAX_ASSESSMENT_NAME_CHARS = 250;
/** Longest rationale, error text or span id kept. */
export const MAX_ASSESSMENT_TEXT_CHARS = 65_536;
/** Largest value, as JSON text: a label, a score, an expected answer; never a document store. */
export const MAX_ASSESSMENT_VALUE_CHARS = 1_048_576;
/** Assessments logged inside one trace info. */
export const MAX_LOGGED_ASSESSMENTS = 1_000;

const SOURCE_TYPES = new Set<string>([AssessmentSourceType.HUMAN, AssessmentSourceType.LLM_JUDGE, AssessmentSourceType.CODE]);
/** MLflow's deprecated name, read as LLM_JUDGE as MLflow does. */
const LEGACY_SOURCE_TYPES: ReadonlyMap<string, string> = new Map([['AI_JUDGE', AssessmentSourceType.LLM_JUDGE]]);

/**
 * The fields an update may change, by `update_mask` path: MLflow's UpdateAssessment handler's list.
 * Paths may come in proto JSON's camelCase (`assessmentName`), as MLflow's own client sends them.
 */
const MUTABLE_FIELDS = ['assessment_name', 'feedback', 'expectation', 'rationale', 'metadata', 'valid'] as const;
type MutableField = (typeof MUTABLE_FIELDS)[number];
const IMMUTABLE_FIELDS = new Set(['assessment_id', 'trace_id', 'span_id', 'source', 'create_time', 'last_update_time', 'overrides', 'error']);

/**
 * Reads an Assessment message (`{assessment_name, source, feedback | expectation, ...}`) as
 * MLflow's proto and entities would accept it, refusing with a 400 that names the field what they
 * refuse: no name, both or neither of feedback and expectation, feedback with neither value nor
 * error, an unknown source type or serialization format, a field of the wrong JSON type.
 *
 * @example
 * parseAssessment({ assessment_name: 'helpful', source: { source_type: 'HUMAN', source_id: 'u-1' }, feedback: { value: true } }, 'assessment');
 */
export function parseAssessment(raw: unknown, where: string): AssessmentInput {
  if (!isObject(raw)) throw invalidParameter(`Missing value for required parameter '${where}': it must be an Assessment object.`);
  const value = parseValue(raw, where);
  return {
    ...value,
    name: parseName(raw.assessment_name, `${where}.assessment_name`),
    spanId: optionalText(raw.span_id, `${where}.span_id`, 64) || null,
    source: parseSource(raw.source, `${where}.source`),
    rationale: optionalText(raw.rationale, `${where}.rationale`, MAX_ASSESSMENT_TEXT_CHARS),
    metadata: parseStringMap(raw.metadata, `${where}.metadata`, MAX_METADATA_KEY_LENGTH, MAX_METADATA_VALUE_CHARS),
    overrides: optionalText(raw.overrides, `${where}.overrides`, 64) || null,
    assessmentId: optionalText(raw.assessment_id, `${where}.assessment_id`, 64) || null,
    createTimeMs: parseRfc3339Millis(raw.create_time, `${where}.create_time`),
    lastUpdateTimeMs: parseRfc3339Millis(raw.last_update_time, `${where}.last_update_time`),
  };
}

/**
 * The assessments sent inside a StartTraceV3 body's `trace_info.assessments` (the TypeScript SDK
 * sends `[]`; the Python SDK sends what a trace gathered), each read as the assessments API reads one.
 */
export function parseLoggedAssessments(body: unknown): AssessmentInput[] {
  const info = isObject(body) && isObject(body.trace) ? body.trace.trace_info : undefined;
  const raw = isObject(info) ? info.assessments : undefined;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalidParameter('trace_info.assessments must be a list of assessments.');
  if (raw.length > MAX_LOGGED_ASSESSMENTS) throw invalidParameter(`trace_info.assessments has ${raw.length} assessments; at most ${MAX_LOGGED_ASSESSMENTS} may be logged with a trace.`);
  return raw.map((a, i) => parseAssessment(a, `trace_info.assessments[${i}]`));
}

/**
 * Reads UpdateAssessment's body: `update_mask` names what changes, `assessment` holds the new
 * values. A path naming a field that cannot change (source, span_id, overrides, ...) or no field
 * at all is a 400, so a client never believes it changed what it did not.
 */
export function parseAssessmentUpdate(body: Record<string, unknown>): AssessmentChanges {
  const assessment = body.assessment;
  if (!isObject(assessment)) throw invalidParameter(`Missing value for required parameter 'assessment'.`);
  const paths = parseUpdateMask(body.update_mask);
  const changes: AssessmentChanges = {};
  for (const path of paths) {
    switch (path) {
      case 'assessment_name':
        changes.name = parseName(assessment.assessment_name, 'assessment.assessment_name');
        break;
      case 'feedback':
      case 'expectation': {
        if (assessment[path] === undefined || assessment[path] === null) throw invalidParameter(`update_mask names '${path}' but assessment.${path} is missing.`);
        const other = path === 'feedback' ? 'expectation' : 'feedback';
        changes.value = parseValue({ [path]: assessment[path] }, 'assessment');
        if (paths.includes(other)) throw invalidParameter(`update_mask may name feedback or expectation, not both.`);
        break;
      }
      case 'rationale':
        changes.rationale = optionalText(assessment.rationale, 'assessment.rationale', MAX_ASSESSMENT_TEXT_CHARS);
        break;
      case 'metadata':
        changes.metadata = parseStringMap(assessment.metadata, 'assessment.metadata', MAX_METADATA_KEY_LENGTH, MAX_METADATA_VALUE_CHARS);
        break;
      case 'valid':
        if (typeof assessment.valid !== 'boolean') throw invalidParameter(`assessment.valid must be true or false; got ${JSON.stringify(assessment.valid ?? null)}.`);
        changes.valid = assessment.valid;
        break;
    }
  }
  return changes;
}

/** `"a,b"` (proto JSON) or `{"paths": [...]}`; camelCase or snake_case names. */
function parseUpdateMask(raw: unknown): MutableField[] {
  const list =
    typeof raw === 'string' ? raw.split(',') : isObject(raw) && Array.isArray(raw.paths) && raw.paths.every((p) => typeof p === 'string') ? (raw.paths as string[]) : null;
  if (list === null) throw invalidParameter(`Missing value for required parameter 'update_mask': a comma-separated list of the fields to change, e.g. "rationale,feedback".`);
  const paths = list.map((p) => p.trim().replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)).filter((p) => p !== '');
  if (paths.length === 0) throw invalidParameter(`update_mask names no field; name at least one of ${MUTABLE_FIELDS.join(', ')}.`);
  for (const path of paths) {
    if (IMMUTABLE_FIELDS.has(path)) throw invalidParameter(`update_mask names '${path}', which cannot be changed; fields that can: ${MUTABLE_FIELDS.join(', ')}. Nothing was changed.`);
    if (!(MUTABLE_FIELDS as readonly string[]).includes(path)) throw invalidParameter(`update_mask names an unknown field '${path}'; fields that can change: ${MUTABLE_FIELDS.join(', ')}.`);
  }
  return [...new Set(paths)] as MutableField[];
}

function parseValue(raw: Record<string, unknown>, where: string): AssessmentValue {
  const hasFeedback = raw.feedback !== undefined && raw.feedback !== null;
  const hasExpectation = raw.expectation !== undefined && raw.expectation !== null;
  if (hasFeedback === hasExpectation) throw invalidParameter(`${where} must have exactly one of 'feedback' and 'expectation'.`);
  if (hasFeedback) {
    const feedback = raw.feedback;
    if (!isObject(feedback)) throw invalidParameter(`${where}.feedback must be an object {"value": ..., "error": {...}}.`);
    const error = parseError(feedback.error, `${where}.feedback.error`);
    const value = feedback.value ?? null;
    if (value === null && error === null) throw invalidParameter(`${where}.feedback must have a 'value' or an 'error'.`);
    return { kind: 'feedback', value: checkedValue(value, `${where}.feedback.value`), error };
  }
  const expectation = raw.expectation;
  if (!isObject(expectation)) throw invalidParameter(`${where}.expectation must be an object {"value": ...} or {"serialized_value": {...}}.`);
  if (expectation.serialized_value !== undefined && expectation.serialized_value !== null) {
    const serialized = expectation.serialized_value;
    if (!isObject(serialized) || typeof serialized.value !== 'string') {
      throw invalidParameter(`${where}.expectation.serialized_value must be {"serialization_format": "${EXPECTATION_SERIALIZATION_FORMAT}", "value": "<JSON text>"}.`);
    }
    if (serialized.serialization_format !== EXPECTATION_SERIALIZATION_FORMAT) {
      throw invalidParameter(`Unknown serialization format ${JSON.stringify(serialized.serialization_format ?? null)} in ${where}.expectation.serialized_value; only ${EXPECTATION_SERIALIZATION_FORMAT} is supported.`);
    }
    if (serialized.value.length > MAX_ASSESSMENT_VALUE_CHARS || jsonDepthExceeds(serialized.value)) {
      throw invalidParameter(`${where}.expectation.serialized_value.value is larger or deeper than a value may be.`);
    }
    let value: unknown;
    try {
      value = JSON.parse(serialized.value);
    } catch {
      throw invalidParameter(`${where}.expectation.serialized_value.value is not valid JSON.`);
    }
    if (value === null) throw invalidParameter(`${where}.expectation must have a value.`);
    return { kind: 'expectation', value, error: null };
  }
  if (expectation.value === undefined || expectation.value === null) throw invalidParameter(`${where}.expectation must have a 'value' or a 'serialized_value'.`);
  return { kind: 'expectation', value: checkedValue(expectation.value, `${where}.expectation.value`), error: null };
}

/** Any JSON value within the size bound; text inside it may not hold NUL (PostgreSQL's JSON). */
function checkedValue(value: unknown, where: string): unknown {
  const text = JSON.stringify(value);
  if (text.length > MAX_ASSESSMENT_VALUE_CHARS) throw invalidParameter(`${where} is ${text.length} characters of JSON; a value may have at most ${MAX_ASSESSMENT_VALUE_CHARS}.`);
  if (text.includes('\\u0000')) throw invalidParameter(`${where} contains a NUL character (U+0000), which is not accepted.`);
  return value;
}

function parseError(raw: unknown, where: string): AssessmentErrorInfo | null {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) throw invalidParameter(`${where} must be {"error_code", "error_message", "stack_trace"}.`);
  const error = {
    errorCode: optionalText(raw.error_code, `${where}.error_code`, 1000),
    errorMessage: optionalText(raw.error_message, `${where}.error_message`, MAX_ASSESSMENT_TEXT_CHARS),
    stackTrace: optionalText(raw.stack_trace, `${where}.stack_trace`, MAX_ASSESSMENT_TEXT_CHARS),
  };
  return error.errorCode === null && error.errorMessage === null && error.stackTrace === null ? null : error;
}

function parseName(raw: unknown, where: string): string {
  if (raw === undefined || raw === null || raw === '') throw invalidParameter(`Missing value for required parameter '${where}'.`);
  if (typeof raw !== 'string') throw invalidParameter(`${where} must be a string; got ${JSON.stringify(raw)}.`);
  if (raw.trim() === '') throw invalidParameter(`${where} must not be blank.`);
  if (raw.length > MAX_ASSESSMENT_NAME_CHARS) throw invalidParameter(`${where} is longer than ${MAX_ASSESSMENT_NAME_CHARS} characters.`);
  return refuseNul(raw, where);
}

function parseSource(raw: unknown, where: string): AssessmentSource {
  if (!isObject(raw)) throw invalidParameter(`Missing value for required parameter '${where}': {"source_type": "HUMAN" | "LLM_JUDGE" | "CODE", "source_id": ...}.`);
  const given = raw.source_type;
  const sourceType = typeof given === 'string' ? (LEGACY_SOURCE_TYPES.get(given) ?? given) : given;
  if (typeof sourceType !== 'string' || !SOURCE_TYPES.has(sourceType)) {
    throw invalidParameter(`${where}.source_type must be one of ${[...SOURCE_TYPES].join(', ')}; got ${JSON.stringify(given ?? null)}.`);
  }
  // MLflow's AssessmentSource defaults its id to "default".
  return { sourceType, sourceId: optionalText(raw.source_id, `${where}.source_id`, 1000) || 'default' };
}

function optionalText(raw: unknown, where: string, maxChars: number): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string') throw invalidParameter(`${where} must be a string; got ${JSON.stringify(raw)}.`);
  if (raw.length > maxChars) throw invalidParameter(`${where} is longer than ${maxChars} characters.`);
  return refuseNul(raw, where);
}
