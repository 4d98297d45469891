import { TraceMetadataKey, TraceTagKey } from '@threadline/protocol';
import type { FilterField, Literal, TraceAttributeKey } from './filter-ast.js';
import { ENTITIES, REMAPPED_KEYS, type Entity } from './filter-entities.js';
import { filterError, type IdentifierToken } from './filter-lexer.js';
import { parseTextQuery } from '../text-search/text-query.js';
import { likePatternProblem, regexPatternProblem } from './regex-pattern.js';

/** Every operator a clause can have, as the parser names them. */
export type ClauseOperator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'RLIKE' | 'MATCH' | 'IN' | 'NOT IN' | 'IS NULL' | 'IS NOT NULL';

// Dependency-free, in a module of their own, so that the web UI reads filters with them too.
export { ENTITIES, REMAPPED_KEYS, type Entity } from './filter-entities.js';

/** Trace attribute keys (reference §7), aliases included, each after the one it stands for. */
export const ATTRIBUTES: ReadonlyMap<string, FilterField> = new Map<string, FilterField>([
  ['timestamp_ms', attribute('timestamp_ms')],
  ['timestamp', attribute('timestamp_ms')],
  ['execution_time_ms', attribute('execution_time_ms')],
  ['execution_time', attribute('execution_time_ms')],
  ['end_time_ms', attribute('end_time_ms')],
  ['end_time', attribute('end_time_ms')],
  ['cost', attribute('cost')],
  ['status', attribute('status')],
  ['request_id', attribute('request_id')],
  ['client_request_id', attribute('client_request_id')],
  ['name', { kind: 'tag', key: TraceTagKey.TRACE_NAME }],
  ['run_id', { kind: 'metadata', key: TraceMetadataKey.SOURCE_RUN }],
  ['prompt', { kind: 'prompt' }],
  ['text', { kind: 'text' }],
]);

function attribute(key: TraceAttributeKey): FilterField {
  return { kind: 'trace-attribute', key };
}

const NUMERIC_ATTRIBUTES: ReadonlySet<string> = new Set<TraceAttributeKey>(['timestamp_ms', 'execution_time_ms', 'end_time_ms', 'cost']);

const NUMERIC: readonly ClauseOperator[] = ['=', '!=', '<', '<=', '>', '>='];
const STRING: readonly ClauseOperator[] = ['=', '!=', 'LIKE', 'ILIKE', 'RLIKE', 'IN', 'NOT IN'];
const KEY_VALUE: readonly ClauseOperator[] = [...STRING, 'IS NULL', 'IS NOT NULL'];
const CONTENT: readonly ClauseOperator[] = ['LIKE', 'ILIKE'];
const TEXT: readonly ClauseOperator[] = [...CONTENT, 'MATCH'];
const FEEDBACK: readonly ClauseOperator[] = ['=', '!=', '<', '<=', '>', '>=', 'LIKE', 'ILIKE', 'RLIKE', 'IS NULL', 'IS NOT NULL'];
const EXPECTATION: readonly ClauseOperator[] = ['=', '!=', 'LIKE', 'ILIKE', 'RLIKE', 'IS NULL', 'IS NOT NULL'];
const EQUALS_ONLY: readonly ClauseOperator[] = ['='];

/** The operators a field accepts (reference §7-§11, extended by decision 3). */
export function operatorsOf(field: FilterField): readonly ClauseOperator[] {
  switch (field.kind) {
    case 'trace-attribute':
      return NUMERIC_ATTRIBUTES.has(field.key) ? NUMERIC : STRING;
    case 'tag':
    case 'metadata':
      return KEY_VALUE;
    case 'span-column':
    case 'span-attribute':
    case 'assessment-column':
      return STRING;
    case 'span-content':
      return CONTENT;
    case 'text':
      return TEXT;
    case 'assessment':
      return field.assessmentKind === 'feedback' ? FEEDBACK : EXPECTATION;
    case 'issue':
    case 'prompt':
      return EQUALS_ONLY;
    case 'rollup':
      return field.valueType === 'number' ? NUMERIC : STRING;
    case 'session-user':
      return STRING;
  }
}

/** Whether the field compares numbers: trace times always, feedback when the value is numeric. */
function isNumericAttribute(field: FilterField): boolean {
  return (field.kind === 'trace-attribute' && NUMERIC_ATTRIBUTES.has(field.key)) || (field.kind === 'rollup' && field.valueType === 'number');
}

/** Names the field an identifier means in one filter language, or throws a 400 naming it. */
export type FieldResolver = (token: IdentifierToken) => FilterField;

/**
 * Resolves a dotted identifier to the field it names, or throws a 400 naming it.
 *
 * @example
 * resolveField(identifierToken('metadata.`mlflow.trace.user`')); // { kind: 'metadata', key: 'mlflow.trace.user' }
 */
export function resolveField(token: IdentifierToken): FilterField {
  const [first, ...rest] = token.parts;
  if (!first) throw filterError('expected a field name, found', token.text, token.start);
  if (rest.length === 0) return attributeField(first.text, token);

  const entity = ENTITIES.get(first.text);
  if (!entity) {
    throw filterError(
      'unknown prefix in',
      token.text,
      token.start,
      `Valid prefixes are ${[...ENTITIES.keys()].map((e) => `${e}.`).join(', ')}; a field without a prefix is a trace attribute.`,
    );
  }
  const key = rest.map((p) => p.text).join('.');
  // A key written as one quoted part is literal: tags.`name` is the tag called "name".
  const literal = rest.length === 1 && rest[0]!.quoted;
  if (entity === 'attribute') return attributeField(key, token);
  if (entity === 'span') return spanField(rest.map((p) => p.text), token);

  if (key === '') throw filterError('empty key in', token.text, token.start, 'Write a key after the dot, e.g. tag.env.');
  const intended = literal ? undefined : REMAPPED_KEYS.get(key.toLowerCase());
  if (intended) {
    throw filterError(
      'ambiguous field',
      token.text,
      token.start,
      `MLflow reads it as ${intended}: write ${intended} for that, or quote the key (${first.text}.\`${key}\`) to mean a ${entity} called '${key}'.`,
    );
  }
  switch (entity) {
    case 'tag':
      return { kind: 'tag', key };
    case 'metadata':
      return { kind: 'metadata', key };
    case 'feedback':
    case 'expectation':
      return { kind: 'assessment', assessmentKind: entity, name: key };
    case 'issue':
      if (key !== 'id') throw filterError('unknown issue field', token.text, token.start, 'The only issue field is issue.id.');
      return { kind: 'issue' };
  }
}

function attributeField(key: string, token: IdentifierToken): FilterField {
  const field = ATTRIBUTES.get(key);
  if (!field) {
    throw filterError('unknown trace attribute', token.text, token.start, `Valid attributes are ${[...ATTRIBUTES.keys()].join(', ')}.`);
  }
  return field;
}

/** The span columns a filter compares: `span.name`, `span.type`, `span.status`. */
export const SPAN_COLUMNS = ['name', 'type', 'status'] as const;

function spanField(parts: readonly string[], token: IdentifierToken): FilterField {
  const [key, ...rest] = parts;
  const column = SPAN_COLUMNS.find((c) => c === key);
  if (rest.length === 0 && column) return { kind: 'span-column', key: column };
  if (rest.length === 0 && key === 'content') return { kind: 'span-content' };
  if (key === 'attributes' && rest.length > 0) {
    const name = rest.join('.');
    if (name === '') throw filterError('empty span attribute name in', token.text, token.start, "Write the attribute after 'attributes.', e.g. span.attributes.model.");
    return { kind: 'span-attribute', name };
  }
  throw filterError('unknown span field', token.text, token.start, 'Span fields are span.name, span.type, span.status, span.content and span.attributes.<name>.');
}

/** Throws a 400 unless `field` accepts `operator`. */
export function checkOperator(field: FilterField, fieldText: string, operator: ClauseOperator, operatorText: string, position: number): void {
  const allowed = operatorsOf(field);
  if (!allowed.includes(operator)) {
    throw filterError(`comparator not supported on ${fieldText}:`, operatorText, position, `Use one of ${allowed.join(', ')}.`);
  }
}

const NUMERIC_TEXT = /^\s*-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s*$/;

/**
 * Checks a single value against its field and operator, returning it normalised: a quoted number
 * on a numeric field becomes a number (decision 2, Q7), a number elsewhere is refused as in MLflow.
 */
export function checkValue(field: FilterField, fieldText: string, operator: ClauseOperator, value: Literal): Literal {
  const numericOperator = operator === '<' || operator === '<=' || operator === '>' || operator === '>=';
  const feedback = field.kind === 'assessment' && field.assessmentKind === 'feedback';
  if (isNumericAttribute(field) || (feedback && numericOperator)) {
    if (value.kind === 'number') return value;
    if (!NUMERIC_TEXT.test(value.value)) {
      throw filterError(`${fieldText} compares numbers, got`, value.value, value.range.start);
    }
    return { kind: 'number', value: Number(value.value), text: value.value.trim(), range: value.range };
  }
  if (value.kind === 'number' && !feedback) {
    throw filterError(`${fieldText} compares strings: quote the value`, value.text, value.range.start, `Write '${value.text}'.`);
  }
  if (value.kind === 'string') checkPattern(operator, value.value, value.range.start);
  if (field.kind === 'prompt' && value.kind === 'string') {
    const parts = value.value.split('/');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw filterError('a prompt filter takes "name/version", got', value.value, value.range.start);
    }
  }
  return value;
}

function checkPattern(operator: ClauseOperator, pattern: string, position: number): void {
  if (operator === 'MATCH') {
    const terms = parseTextQuery(pattern);
    if (typeof terms === 'string') throw filterError('invalid word search', pattern, position, `The search is refused: ${terms}.`);
    return;
  }
  const problem = operator === 'RLIKE' ? regexPatternProblem(pattern) : operator === 'LIKE' || operator === 'ILIKE' ? likePatternProblem(pattern) : undefined;
  if (problem) throw filterError(`invalid ${operator} pattern`, pattern, position, `The pattern is refused: ${problem}.`);
}
