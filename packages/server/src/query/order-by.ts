import { sql, type RawBuilder } from 'kysely';
import { TraceMetadataKey, TraceTagKey } from '@threadline/protocol';
import { ApiError, invalidParameter } from '../errors.js';
import { ENTITIES, REMAPPED_KEYS } from './filter-fields.js';
import { readIdentifier, type IdentifierPart } from './filter-lexer.js';
import { MAX_ORDER_BY_KEYS } from './limits.js';

/** One key of a resolved `order_by`, with everything needed to sort and to page by it. */
export interface OrderKey {
  /** Canonical name: `timestamp_ms`, `tag:fruit`, `metadata:mlflow.sourceRun`. Aliases share one. */
  readonly id: string;
  readonly direction: 'ASC' | 'DESC';
  /** How its values travel in a page token: numbers for times, strings for the rest. */
  readonly valueType: 'number' | 'string';
  /** May be NULL (a missing tag, a trace still running): such rows sort last in either direction. */
  readonly nullable: boolean;
  /** A number that may have a fraction (a share of feedback); the others are integers. */
  readonly fractional?: boolean;
  /** The sort value of a row of `traces AS t`. */
  readonly expression: RawBuilder<unknown>;
}

/** An order key before its direction is known. */
export type KeyShape = Omit<OrderKey, 'direction'>;

/** Names the key a parsed `order_by` identifier means in one language, or throws a 400 naming the clause. */
export type OrderKeyResolver = (parts: readonly IdentifierPart[], clause: string) => KeyShape;

const column = (id: string, ref: string, valueType: 'number' | 'string', nullable = false): KeyShape => ({
  id,
  valueType,
  nullable,
  expression: sql.ref(ref),
});

const TIMESTAMP = column('timestamp_ms', 't.request_time', 'number');
const REQUEST_ID = column('request_id', 't.trace_id', 'string');
const EXECUTION_TIME = column('execution_time_ms', 't.execution_duration', 'number', true);
const END_TIME: KeyShape = {
  id: 'end_time_ms',
  valueType: 'number',
  nullable: false,
  expression: sql`(t.request_time + COALESCE(t.execution_duration, 0))`,
};

/** Orderable trace attributes (reference §13), aliases included. */
const ATTRIBUTE_KEYS: ReadonlyMap<string, () => KeyShape> = new Map([
  ['experiment_id', () => column('experiment_id', 't.experiment_id', 'number')],
  ['timestamp', () => TIMESTAMP],
  ['timestamp_ms', () => TIMESTAMP],
  ['execution_time', () => EXECUTION_TIME],
  ['execution_time_ms', () => EXECUTION_TIME],
  ['end_time', () => END_TIME],
  ['end_time_ms', () => END_TIME],
  ['cost', () => column('cost', 't.cost_nanos', 'number', true)],
  ['status', () => column('status', 't.state', 'string')],
  ['request_id', () => REQUEST_ID],
  ['name', () => tagKey(TraceTagKey.TRACE_NAME)],
  ['run_id', () => metadataKey(TraceMetadataKey.SOURCE_RUN)],
]);

const METADATA_COLUMNS: ReadonlyMap<string, string> = new Map([
  [TraceMetadataKey.USER, 't.user_id'],
  [TraceMetadataKey.SESSION, 't.session_id'],
]);

function tagKey(key: string): KeyShape {
  return {
    id: `tag:${key}`,
    valueType: 'string',
    nullable: true,
    expression: sql`(SELECT kv.value FROM trace_tags AS kv WHERE kv.trace_key = t.trace_key AND kv.key = ${key})`,
  };
}

function metadataKey(key: string): KeyShape {
  const mirrored = METADATA_COLUMNS.get(key);
  if (mirrored) return { ...column(`metadata:${key}`, mirrored, 'string', true) };
  return {
    id: `metadata:${key}`,
    valueType: 'string',
    nullable: true,
    expression: sql`(SELECT kv.value FROM trace_metadata AS kv WHERE kv.trace_key = t.trace_key AND kv.key = ${key})`,
  };
}

/**
 * Resolves an `order_by` list to sort keys, appending the tie-breakers `timestamp_ms DESC` and
 * `request_id ASC` unless present, so the order is total and pages never overlap. Throws a 400
 * naming the clause for an unknown key, a bad direction or a key given twice (decision 4).
 *
 * @example
 * parseOrderBy(['execution_time DESC']).map((k) => `${k.id} ${k.direction}`);
 * // ['execution_time_ms DESC', 'timestamp_ms DESC', 'request_id ASC']
 */
export function parseOrderBy(orderBy: readonly string[] | undefined): OrderKey[] {
  return parseOrderList(orderBy, traceKey, [
    { ...TIMESTAMP, direction: 'DESC' },
    { ...REQUEST_ID, direction: 'ASC' },
  ]);
}

/**
 * Resolves an `order_by` list with `resolveKey`, then appends each of `tieBreakers` whose key is
 * not already there; the last tie-breaker must be unique per row, so that the order is total.
 * Throws a 400 naming the clause for a bad clause or a key given twice (decision 4).
 *
 * @example
 * parseOrderList(['turns DESC'], sessionKey, [{ ...LAST_TIME, direction: 'DESC' }, { ...SESSION_ID, direction: 'ASC' }]);
 */
export function parseOrderList(orderBy: readonly string[] | undefined, resolveKey: OrderKeyResolver, tieBreakers: readonly OrderKey[]): OrderKey[] {
  if (orderBy && orderBy.length > MAX_ORDER_BY_KEYS) {
    throw invalidParameter(`Invalid order_by: ${orderBy.length} keys given; at most ${MAX_ORDER_BY_KEYS} are allowed.`);
  }
  const keys: OrderKey[] = [];
  for (const clause of orderBy ?? []) {
    const key = parseOrderClause(clause, resolveKey);
    const earlier = keys.find((k) => k.id === key.id);
    if (earlier) throw invalidParameter(`Invalid order_by: '${clause}' orders by ${key.id} a second time.`);
    keys.push(key);
  }
  for (const tieBreaker of tieBreakers) if (!keys.some((k) => k.id === tieBreaker.id)) keys.push(tieBreaker);
  return keys;
}

function traceKey(parts: readonly IdentifierPart[], clause: string): KeyShape {
  const [first, ...rest] = parts;
  return rest.length === 0 ? attributeKey(first!.text, clause) : prefixedKey(first!.text, rest, clause);
}

function parseOrderClause(clause: string, resolveKey: OrderKeyResolver): OrderKey {
  const start = clause.length - clause.trimStart().length;
  const fail = (what: string, position: number) =>
    invalidParameter(`Invalid order_by clause '${clause}': ${what} at position ${position}. Write '<key> [ASC|DESC]', e.g. 'timestamp_ms DESC'.`);
  if (clause.includes('\u0000')) throw fail('unexpected NUL character', clause.indexOf('\u0000'));
  if (!/^[\p{L}_`]/u.test(clause.slice(start))) throw fail(`expected a key, found '${clause.slice(start, start + 20)}'`, start);
  let identifier;
  try {
    identifier = readIdentifier(clause, start);
  } catch (error) {
    if (error instanceof ApiError) throw fail('unterminated quoted key', start);
    throw error;
  }
  const rest = clause.slice(identifier.end);
  const words = rest.trim() === '' ? [] : rest.trim().split(/\s+/);
  const restStart = identifier.end + (rest.length - rest.trimStart().length);
  if (words.length > 1 || !/^(\s|$)/.test(rest)) throw fail(`unexpected '${rest.trim()}'`, restStart);
  const direction = words[0]?.toUpperCase() ?? 'ASC';
  if (direction !== 'ASC' && direction !== 'DESC') throw fail(`unknown direction '${words[0]}' (use ASC or DESC)`, restStart);

  return { ...resolveKey(identifier.parts, clause), direction };
}

function attributeKey(key: string, clause: string): KeyShape {
  const make = ATTRIBUTE_KEYS.get(key);
  if (!make) {
    throw invalidParameter(`Invalid order_by clause '${clause}': '${key}' cannot be ordered by. Orderable keys are ${[...ATTRIBUTE_KEYS.keys()].join(', ')}, tag.<key> and metadata.<key>.`);
  }
  return make();
}

function prefixedKey(prefix: string, parts: readonly { text: string; quoted: boolean }[], clause: string): KeyShape {
  const entity = ENTITIES.get(prefix);
  const key = parts.map((p) => p.text).join('.');
  if (entity === 'attribute') return attributeKey(key, clause);
  if (!entity) throw invalidParameter(`Invalid order_by clause '${clause}': unknown prefix '${prefix}.'; use a trace attribute, tag.<key> or metadata.<key>.`);
  if (entity !== 'tag' && entity !== 'metadata') {
    throw invalidParameter(`Invalid order_by clause '${clause}': '${prefix}.' fields cannot be ordered by; use a trace attribute, tag.<key> or metadata.<key>.`);
  }
  if (key === '') throw invalidParameter(`Invalid order_by clause '${clause}': the key after '${prefix}.' is empty.`);
  const intended = parts.length === 1 && parts[0]!.quoted ? undefined : REMAPPED_KEYS.get(key.toLowerCase());
  if (intended) {
    throw invalidParameter(`Invalid order_by clause '${clause}': MLflow reads '${prefix}.${key}' as ${intended}; write ${intended.replace(/^trace\./, '')} for that, or ${prefix}.\`${key}\` for the ${entity} key.`);
  }
  return entity === 'tag' ? tagKey(key) : metadataKey(key);
}
