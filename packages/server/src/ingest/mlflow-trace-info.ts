import {
  displayText,
  MAX_METADATA_KEY_LENGTH,
  MAX_TAG_KEY_LENGTH,
  TRACE_ID_PREFIX,
  TraceLocationType,
  TraceState,
} from '@threadline/protocol';
import { invalidParameter } from '../errors.js';
import { refuseNul } from '../text.js';
import type { TraceRecord } from '../trace-model.js';
import { isObject } from './mlflow-spans.js';

/**
 * Longest metadata and tag values stored. MLflow guarantees 250 and 4096 characters; its own
 * columns hold 8000, and the TypeScript SDK copies 1000-character previews into metadata, so the
 * guarantee alone would refuse ordinary traces.
 */
export const MAX_METADATA_VALUE_CHARS = 8000;
export const MAX_TAG_VALUE_CHARS = 8000;

/**
 * Trace ids a client may choose. The SDKs send `tr-` + 32 hex, but MLflow stores any id (the
 * official SDK's `MlflowClient.createTrace` sends a UUID), so any id of letters, digits, `.`, `_`
 * and `-` is taken, starting with a letter or digit and at most 64 long: nothing that could
 * escape a URL path segment or an artifact path (`/`, `..`, `%`, spaces) is ever an id.
 */
export const TRACE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The same pattern as a fragment, for paths that carry a trace id (artifacts.ts). */
export const TRACE_ID_SOURCE = TRACE_ID_PATTERN.source.slice(1, -1);
const DURATION = /^(-?\d+(?:\.\d+)?)s$/;
const STATES = new Set<string>(Object.values(TraceState));

/**
 * Reads the body of StartTraceV3 (`{"trace": {"trace_info": {...}}}`) into a canonical trace,
 * refusing what MLflow's proto would refuse and what the store could not keep.
 *
 * @example
 * const record = parseStartTraceRequest(parseJsonBody(body));
 */
export function parseStartTraceRequest(body: unknown): TraceRecord {
  const info = isObject(body) && isObject(body.trace) ? body.trace.trace_info : undefined;
  if (!isObject(info)) throw invalidParameter(`The request must be {"trace": {"trace_info": {...}}}.`);

  const traceId = info.trace_id;
  if (typeof traceId !== 'string' || !TRACE_ID_PATTERN.test(traceId)) {
    throw invalidParameter(
      `trace_info.trace_id must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (the SDKs send '${TRACE_ID_PREFIX}' and 32 hex digits); got ${JSON.stringify(traceId ?? null)}.`,
    );
  }
  return {
    traceId,
    experimentId: parseLocation(info.trace_location),
    clientRequestId: refuseNul(optionalString(info.client_request_id, 'trace_info.client_request_id'), 'trace_info.client_request_id'),
    requestTimeMs: parseRfc3339Millis(info.request_time, 'trace_info.request_time') ?? Date.now(),
    executionDurationMs: parseDuration(info.execution_duration),
    state: parseState(info.state),
    requestPreview: previewOf(info.request_preview, 'trace_info.request_preview'),
    responsePreview: previewOf(info.response_preview, 'trace_info.response_preview'),
    metadata: parseStringMap(info.trace_metadata, 'trace_info.trace_metadata', MAX_METADATA_KEY_LENGTH, MAX_METADATA_VALUE_CHARS),
    tags: parseStringMap(info.tags, 'trace_info.tags', MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_CHARS),
  };
}

function parseLocation(raw: unknown): string {
  if (!isObject(raw)) throw invalidParameter('trace_info.trace_location is required.');
  if (raw.type !== TraceLocationType.MLFLOW_EXPERIMENT) {
    throw invalidParameter(`trace_info.trace_location.type must be MLFLOW_EXPERIMENT; got ${JSON.stringify(raw.type ?? null)}.`);
  }
  const experimentId = isObject(raw.mlflow_experiment) ? raw.mlflow_experiment.experiment_id : undefined;
  return parseExperimentId(experimentId, 'trace_info.trace_location.mlflow_experiment.experiment_id');
}

/** Experiment ids are decimal integers, sent as strings (or numbers by lenient clients). */
export function parseExperimentId(raw: unknown, where: string): string {
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !/^\d{1,18}$/.test(text)) {
    throw invalidParameter(`${where} must be an experiment id (a decimal integer as a string); got ${JSON.stringify(raw ?? null)}.`);
  }
  return String(Number(text));
}

/** A protobuf Timestamp in JSON (RFC 3339) as milliseconds; null when absent. */
export function parseRfc3339Millis(raw: unknown, where: string): number | null {
  if (raw === undefined || raw === null) return null;
  const ms = typeof raw === 'string' && /^\d{4}-\d\d-\d\dT/.test(raw) ? Date.parse(raw) : NaN;
  if (!Number.isFinite(ms)) throw invalidParameter(`${where} must be an RFC 3339 timestamp; got ${JSON.stringify(raw)}.`);
  return ms;
}


function parseDuration(raw: unknown): number | null {
  if (raw === undefined || raw === null) return null;
  const match = typeof raw === 'string' ? DURATION.exec(raw) : null;
  if (!match || Number(match[1]) < 0) {
    throw invalidParameter(`trace_info.execution_duration must be a non-negative duration such as "1.5s"; got ${JSON.stringify(raw)}.`);
  }
  return Math.round(Number(match[1]) * 1000);
}

function parseState(raw: unknown): TraceState {
  if (raw === undefined || raw === null) return TraceState.STATE_UNSPECIFIED;
  if (typeof raw !== 'string' || !STATES.has(raw)) {
    throw invalidParameter(`trace_info.state must be one of ${[...STATES].join(', ')}; got ${JSON.stringify(raw)}.`);
  }
  return raw as TraceState;
}

/** A client's preview, kept as the display text it is (a NUL shows as U+FFFD), not cut. */
function previewOf(raw: unknown, where: string): string | null {
  const text = optionalString(raw, where);
  return text === null ? null : displayText(text);
}

function optionalString(raw: unknown, where: string): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string') throw invalidParameter(`${where} must be a string.`);
  return raw;
}

/** A proto `map<string, string>`; MLflow's V2 API sends the same as a `[{key, value}]` list. */
export function parseStringMap(raw: unknown, where: string, maxKeyChars: number, maxValueChars: number): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  const entries = Array.isArray(raw)
    ? raw.map((kv, i) => {
        if (!isObject(kv)) throw invalidParameter(`${where}[${i}] must be {"key": ..., "value": ...}.`);
        return [kv.key, kv.value] as const;
      })
    : isObject(raw)
      ? Object.entries(raw)
      : invalidMap(where);
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (typeof key !== 'string' || key.length === 0) throw invalidParameter(`${where} has an empty or non-string key.`);
    if (typeof value !== 'string') throw invalidParameter(`${where}['${key}'] must be a string; got ${JSON.stringify(value ?? null)}.`);
    if (key.length > maxKeyChars) throw invalidParameter(`${where} key '${key.slice(0, 40)}...' is longer than ${maxKeyChars} characters.`);
    if (value.length > maxValueChars) throw invalidParameter(`${where}['${key}'] is longer than ${maxValueChars} characters.`);
    refuseNul(key, `${where} key ${JSON.stringify(key.slice(0, 40))}`);
    out[key] = refuseNul(value, `${where}['${key.slice(0, 40)}']`);
  }
  return out;
}

function invalidMap(where: string): never {
  throw invalidParameter(`${where} must be an object of string values.`);
}
