import { sql, type CompiledQuery, type Kysely, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { NANOS_PER_USD } from '../cost/units.js';
import { ApiError, invalidParameter } from '../errors.js';
import type { SqlDialect } from '../store/sql-dialect.js';
import { canonicalFilter, isTraceClause, type ClauseNode, type ComparisonNode, type FilterField, type FilterNode } from './filter-ast.js';
import { listedTraceIds, type TextMatches } from '../store/trace-text.js';
import { compileFilter, integerComparison, joinConditions, scaledComparison, stringPredicate, withinTimeLimit, type CompileOptions } from './filter-compiler.js';
import { ENTITIES, resolveField, type FieldResolver } from './filter-fields.js';
import { filterError, type IdentifierPart, type IdentifierToken } from './filter-lexer.js';
import { parseFilter } from './filter-parser.js';
import { keysetQuery, nextPageToken } from './keyset.js';
import { parseOrderList, type KeyShape, type OrderKey, type OrderKeyResolver } from './order-by.js';
import { decodePageToken, searchDigest, type SortValue } from './page-token.js';

/**
 * The session and user languages: MLflow's trace filter language over a rollup table (`sessions`
 * or `users`, aliased `r`), with the rollup's own columns as bare names (`turns > 3`,
 * `user_id LIKE 'u-1%'`, or prefixed: `session.turns`, `user.traces`) and every trace clause
 * meaning "some trace of the row matches". A maximal AND-group of trace clauses must hold on one
 * and the same trace, like the same-span rule of the trace language; OR, NOT and parentheses
 * combine as booleans over rows: `NOT trace.status = 'ERROR'` is "no trace failed".
 */
export interface RollupLanguage {
  /** What the rows are called in messages and page digests: `sessions`, `users`. */
  readonly name: 'sessions' | 'users';
  /** The optional prefix of the rollup's own fields: `session.turns`. */
  readonly prefix: string;
  /** Filterable and orderable columns by name (aliases included). */
  readonly columns: ReadonlyMap<string, RollupColumn>;
  /** Fields that filter but do not order, such as a session's `user`. */
  readonly extraFields: ReadonlyMap<string, FilterField>;
  /** Appended to every order: the last is unique per row, so the order is total. */
  readonly tieBreakers: readonly OrderKey[];
  /** True when trace `t` belongs to rollup row `r`. */
  readonly traceOfRow: RawBuilder<SqlBool>;
  /** The column a trace and its rollup row share besides the experiment: `session_id`, `user_id`. */
  readonly traceKey: 'session_id' | 'user_id';
  /** The `feedback_rollups` rows of a rollup row `r`: their scope, and the column of `r` that is their key. */
  readonly feedback: { scope: 'session' | 'user'; key: RawBuilder<unknown> };
}

/** A rollup column as filters compare it and orders sort by it. */
export interface RollupColumn {
  /** Canonical name: the field's key in trees and the order key's id. */
  readonly name: string;
  readonly valueType: 'number' | 'string';
  /** Its value on a row of the rollup aliased `r`. */
  readonly expression: RawBuilder<unknown>;
  /** A number that may have a fraction (a mean, a share): compared as it is, not as an integer. */
  readonly fractional?: boolean;
  /** May be NULL (a mean of no values): NULL matches no comparison and sorts last. */
  readonly nullable?: boolean;
  /** Stored in units of 1/scale (cost: nano-dollars), filtered in whole units (dollars). */
  readonly scale?: number;
}

/**
 * The feedback aggregates of a session or user (feedback-rollups.ts), by the last part of
 * `feedback.<name>.<stat>`: how many valid feedback of that name, how many said yes (`true`,
 * "yes") or no (`false`, "no"), their share of all, and the sum and mean of numeric values.
 */
const FEEDBACK_STATS = ['count', 'positive', 'negative', 'positive_share', 'negative_share', 'numeric_count', 'sum', 'mean'] as const;
type FeedbackStat = (typeof FEEDBACK_STATS)[number];

/** The order key id and field key of `feedback.<name>.<stat>`. */
const feedbackKey = (name: string, stat: FeedbackStat) => `feedback\u0000${stat}\u0000${name}`;

/**
 * `feedback.<name>.<stat>` (or `session.feedback.…` / `user.feedback.…`) of a rollup row, from
 * its `feedback_rollups` row (one primary-key lookup). A name of several parts is joined by dots;
 * to mean the trace clause on feedback whose name ends in `.count`, quote it whole:
 * ``feedback.`x.count` = 'yes'``.
 */
function feedbackStatOf(language: RollupLanguage, parts: readonly IdentifierPart[]): { name: string; stat: FeedbackStat } | undefined {
  const rest = parts[0]?.text === language.prefix && parts.length > 1 ? parts.slice(1) : parts;
  const last = rest[rest.length - 1];
  if (rest.length < 3 || rest[0]!.text !== 'feedback' || rest[0]!.quoted || !last || last.quoted) return undefined;
  if (!(FEEDBACK_STATS as readonly string[]).includes(last.text)) return undefined;
  return { name: rest.slice(1, -1).map((p) => p.text).join('.'), stat: last.text as FeedbackStat };
}

function feedbackColumn(language: RollupLanguage, name: string, stat: FeedbackStat): RollupColumn {
  const { scope, key } = language.feedback;
  const of = (value: RawBuilder<unknown>) =>
    sql`(SELECT ${value} FROM feedback_rollups AS f WHERE f.experiment_id = r.experiment_id AND f.scope = ${scope} AND f.key = ${key} AND f.name = ${name})`;
  const real = (column: string) => sql`CAST(${sql.ref(`f.${column}`)} AS DOUBLE PRECISION)`;
  const ratio = (part: string, whole: string) => of(sql`CASE WHEN ${sql.ref(`f.${whole}`)} > 0 THEN ${real(part)} / ${sql.ref(`f.${whole}`)} END`);
  const id = feedbackKey(name, stat);
  switch (stat) {
    case 'count':
    case 'numeric_count':
      return { name: id, valueType: 'number', expression: sql`COALESCE(${of(sql.ref(`f.${stat}`))}, 0)` };
    case 'positive':
      return { name: id, valueType: 'number', expression: sql`COALESCE(${of(sql.ref('f.true_count'))}, 0)` };
    case 'negative':
      return { name: id, valueType: 'number', expression: sql`COALESCE(${of(sql.ref('f.false_count'))}, 0)` };
    case 'sum':
      return { name: id, valueType: 'number', fractional: true, expression: sql`COALESCE(${of(real('numeric_sum'))}, 0)` };
    case 'mean':
      return { name: id, valueType: 'number', fractional: true, nullable: true, expression: ratio('numeric_sum', 'numeric_count') };
    case 'positive_share':
      return { name: id, valueType: 'number', fractional: true, nullable: true, expression: ratio('true_count', 'count') };
    case 'negative_share':
      return { name: id, valueType: 'number', fractional: true, nullable: true, expression: ratio('false_count', 'count') };
  }
}

/** A column of the language by its canonical name: its own, or a feedback aggregate. */
function columnOf(language: RollupLanguage, key: string): RollupColumn | undefined {
  const own = language.columns.get(key);
  if (own || !key.startsWith('feedback\u0000')) return own;
  const [, stat, name] = key.split('\u0000') as [string, FeedbackStat, string];
  return feedbackColumn(language, name, stat);
}

/** A search over one experiment's rollup rows, as the REST layer received it. */
export interface RollupSearchRequest {
  /** A numeric string. */
  experimentId: string;
  filter?: string;
  orderBy?: string[];
  /** Already validated 1..N by the HTTP layer. */
  maxResults: number;
  pageToken?: string;
}

/** Everything a rollup search needs once its request is checked. */
export interface PreparedRollupSearch {
  experimentId: number;
  /** The filter as a condition on `r`, after the dialect's time-limit check, when there is either. */
  where: RawBuilder<SqlBool> | undefined;
  keys: OrderKey[];
  /** The previous page's last sort values. */
  after: SortValue[] | undefined;
  digest: string;
  maxResults: number;
  /** Its SQL depends on the request alone (no word search resolved against the index): compiled once per shape. */
  reusable: boolean;
}

type ColumnDefinition = RollupColumn & { aliases?: readonly string[] };

/** `last_time` of either rollup: the default order, newest first. */
export const LAST_TIME_COLUMN: RollupColumn = { name: 'last_time', valueType: 'number', expression: sql.ref('r.last_time') };

/** The columns `sessions` and `users` share, by the same names in both languages. */
export const COMMON_ROLLUP_COLUMNS: readonly ColumnDefinition[] = [
  { name: 'first_time', aliases: ['first_time_ms'], valueType: 'number', expression: sql.ref('r.first_time') },
  { ...LAST_TIME_COLUMN, aliases: ['last_time_ms'] },
  { name: 'errors', valueType: 'number', expression: sql.ref('r.error_count') },
  { name: 'input_tokens', valueType: 'number', expression: sql.ref('r.input_tokens') },
  { name: 'output_tokens', valueType: 'number', expression: sql.ref('r.output_tokens') },
  { name: 'total_tokens', valueType: 'number', expression: sql.ref('r.total_tokens') },
  { name: 'cost', valueType: 'number', expression: sql.ref('r.cost_nanos'), scale: NANOS_PER_USD },
];

/** Builds the column map of a language, each column under its name and its aliases. */
export function rollupColumns(columns: readonly ColumnDefinition[]): ReadonlyMap<string, RollupColumn> {
  const map = new Map<string, RollupColumn>();
  for (const { aliases = [], ...column } of columns) for (const name of [column.name, ...aliases]) map.set(name, column);
  return map;
}

/** An order key on a rollup column, for tie-breakers. */
export function rollupOrderKey(column: RollupColumn, direction: 'ASC' | 'DESC'): OrderKey {
  return {
    id: column.name,
    valueType: column.valueType,
    nullable: column.nullable ?? false,
    ...(column.fractional ? { fractional: true } : {}),
    expression: column.expression,
    direction,
  };
}

/**
 * Checks a request and turns it into SQL pieces: a bad experiment id, `max_results`, filter,
 * `order_by` or page token is a 400 `ApiError` naming the offending part.
 *
 * @example
 * const search = prepareRollupSearch(SESSIONS, dialect, { experimentId: '1', filter: 'turns > 3', maxResults: 50 });
 */
export async function prepareRollupSearch(
  language: RollupLanguage,
  dialect: SqlDialect,
  request: RollupSearchRequest,
  resolveText: (tree: FilterNode) => Promise<TextMatches | undefined> = async () => undefined,
): Promise<PreparedRollupSearch> {
  if (!/^\d{1,18}$/.test(request.experimentId)) throw invalidParameter(`Invalid experiment id '${request.experimentId}': it must be a number.`);
  const { maxResults } = request;
  if (!Number.isSafeInteger(maxResults) || maxResults < 1) {
    throw invalidParameter(`Invalid value ${maxResults} for parameter 'max_results' supplied. It must be a positive integer.`);
  }
  const shape = JSON.stringify([language.name, dialect.name, request.experimentId, request.filter, request.orderBy]);
  let parsed = PARSED.get(shape);
  if (parsed) {
    PARSED.delete(shape); // re-inserted below: most recently used last
  } else {
    const tree = request.filter === undefined ? undefined : parseFilter(request.filter, rollupFieldResolver(language));
    const keys = parseOrderList(request.orderBy, rollupKeyResolver(language), language.tieBreakers);
    const digest = searchDigest([request.experimentId], `${language.name}:${canonicalFilter(tree)}`, keys);
    parsed = { tree, where: rollupWhere(tree, language, dialect), keys, digest };
    if (PARSED.size >= PARSED_CACHE_SIZE) PARSED.delete(PARSED.keys().next().value!);
  }
  PARSED.set(shape, parsed);
  // A word search's plan depends on what the text index holds now: compiled for each search.
  const textMatches = parsed.tree && (await resolveText(parsed.tree));
  const where = textMatches ? rollupWhere(parsed.tree, language, dialect, { textMatches }) : parsed.where;
  return {
    experimentId: Number(request.experimentId),
    where,
    keys: parsed.keys,
    digest: parsed.digest,
    reusable: textMatches === undefined,
    after: request.pageToken ? decodePageToken(request.pageToken, parsed.digest, parsed.keys) : undefined,
    maxResults,
  };
}

/**
 * Parsed searches by request shape, least recently used first. Lists are polled with the same few
 * filters and orders (a UI's sessions tab), and parsing, compiling and digesting cost more than a
 * rollup page's query itself. Entries are immutable; only valid searches are kept.
 */
const PARSED = new Map<string, Pick<PreparedRollupSearch, 'where' | 'keys' | 'digest'> & { tree: FilterNode | undefined }>();

/** The filter's condition, behind the time-limit check, which comes first to be tested for every row the search looks at. */
function rollupWhere(tree: FilterNode | undefined, language: RollupLanguage, dialect: SqlDialect, options: CompileOptions = {}): RawBuilder<SqlBool> | undefined {
  const filter = tree && compileRollupFilter(tree, language, dialect, options);
  return dialect.timeLimitCheck && filter ? joinConditions([dialect.timeLimitCheck, filter], 'AND') : (dialect.timeLimitCheck ?? filter);
}
const PARSED_CACHE_SIZE = 256;

/**
 * Runs a prepared search: filter, order, keyset position and limit on the experiment's rows of the
 * rollup aliased `r` (from `rows()`), and the token of the page after. A first page's SQL depends
 * only on the request, so it is compiled once per shape and reused (Kysely's build and compile cost
 * as much as the query).
 */
export async function rollupPage<DB, TB extends keyof DB, O>(
  db: Pick<Kysely<unknown>, 'executeQuery'>,
  rows: () => SelectQueryBuilder<DB, TB, O>,
  search: PreparedRollupSearch,
): Promise<{ rows: O[]; nextPageToken?: string }> {
  const build = () => {
    const query = rows();
    return keysetQuery(search.where ? query.where(search.where) : query, search.keys, search.after).limit(search.maxResults);
  };
  let result: O[];
  if (search.after || !search.reusable) {
    result = await build().execute();
  } else {
    const shape = `${search.digest} ${search.maxResults}`;
    let cache = FIRST_PAGES.get(db);
    if (!cache) FIRST_PAGES.set(db, (cache = new Map()));
    let compiled = cache.get(shape);
    if (!compiled) {
      compiled = build().compile();
      if (cache.size >= PARSED_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(shape, compiled);
    }
    result = (await db.executeQuery(compiled as CompiledQuery<O>)).rows;
  }
  const token = nextPageToken(result, search.keys, search.maxResults, search.digest);
  return token === undefined ? { rows: result } : { rows: result, nextPageToken: token };
}

/**
 * Compiled first pages per database handle (its dialect and schema are in the SQL), by search
 * digest and page size; the digest covers experiment, language, filter and order.
 */
const FIRST_PAGES = new WeakMap<object, Map<string, CompiledQuery<unknown>>>();

/** The field resolver of a language: its own columns first, then everything the trace language knows. */
export function rollupFieldResolver(language: RollupLanguage): FieldResolver {
  return (token: IdentifierToken) => {
    const feedback = feedbackStatOf(language, token.parts);
    if (feedback) return { kind: 'rollup', key: feedbackKey(feedback.name, feedback.stat), valueType: 'number' };
    const own = ownName(language, token.parts);
    if (own !== undefined) {
      const column = language.columns.get(own);
      if (column) return { kind: 'rollup', key: column.name, valueType: column.valueType };
      const extra = language.extraFields.get(own);
      if (extra) return extra;
      throw filterError(`unknown ${language.prefix} field`, token.text, token.start, fieldHint(language));
    }
    const first = token.parts[0]?.text ?? '';
    if (token.parts.length > 1 && !ENTITIES.has(first)) {
      throw filterError('unknown prefix in', token.text, token.start, `${fieldHint(language)} Trace fields take the prefixes ${[...ENTITIES.keys()].map((e) => `${e}.`).join(', ')}.`);
    }
    try {
      return resolveField(token);
    } catch (error) {
      // A bare name that is neither ours nor a trace attribute: say what both languages offer.
      if (error instanceof ApiError && token.parts.length === 1) throw filterError('unknown field', token.text, token.start, fieldHint(language));
      throw error;
    }
  };
}

/** The name of one of the language's own fields (`turns`, `session.turns`), or undefined. */
function ownName(language: RollupLanguage, parts: readonly IdentifierPart[]): string | undefined {
  const known = (name: string) => language.columns.has(name) || language.extraFields.has(name);
  if (parts.length === 1 && known(parts[0]!.text)) return parts[0]!.text;
  if (parts.length > 1 && parts[0]!.text === language.prefix) return parts.slice(1).map((p) => p.text).join('.');
  return undefined;
}

function fieldHint(language: RollupLanguage): string {
  const names = [...new Set([...[...language.columns.values()].map((c) => c.name), ...language.extraFields.keys()])];
  return `Fields of ${language.name} are ${names.join(', ')} and feedback.<name>.{${FEEDBACK_STATS.join(',')}} (optionally prefixed '${language.prefix}.'); trace fields (tags., metadata., trace., span., feedback., ...) match when some trace matches.`;
}

function rollupKeyResolver(language: RollupLanguage): OrderKeyResolver {
  return (parts, clause): KeyShape => {
    const feedback = feedbackStatOf(language, parts);
    const name = parts.length === 1 ? parts[0]!.text : parts[0]!.text === language.prefix ? parts.slice(1).map((p) => p.text).join('.') : undefined;
    const column = feedback ? feedbackColumn(language, feedback.name, feedback.stat) : name === undefined ? undefined : language.columns.get(name);
    if (!column) {
      const names = [...new Set([...language.columns.values()].map((c) => c.name))];
      throw invalidParameter(`Invalid order_by clause '${clause}': ${language.name} can be ordered by ${names.join(', ')} and feedback.<name>.{${FEEDBACK_STATS.join(',')}}.`);
    }
    const { direction: _direction, ...shape } = rollupOrderKey(column, 'ASC');
    return shape;
  };
}

/**
 * Compiles a tree of the language to a condition on the rollup row `r`. Every value is bound.
 *
 * @example
 * db.selectFrom('sessions as r').selectAll().where(compileRollupFilter(parseFilter('turns > 3', resolver)!, SESSIONS, dialect));
 */
export function compileRollupFilter(node: FilterNode, language: RollupLanguage, dialect: SqlDialect, options: CompileOptions = {}): RawBuilder<SqlBool> {
  const compile = (n: FilterNode): RawBuilder<SqlBool> => {
    switch (n.kind) {
      case 'and': {
        // The trace clauses among the operands hold on one and the same trace, where the first stood.
        const traceClauses = n.operands.filter(isTraceClause);
        const conditions: RawBuilder<SqlBool>[] = [];
        for (const operand of n.operands) {
          if (!isTraceClause(operand)) conditions.push(compile(operand));
          else if (operand === traceClauses[0]) conditions.push(someTrace(traceClauses));
        }
        return joinConditions(conditions, 'AND');
      }
      case 'or':
        return joinConditions(n.operands.map(compile), 'OR');
      case 'not':
        return sql<SqlBool>`(NOT ${compile(n.operand)})`;
      default:
        return isTraceClause(n) ? someTrace([n]) : ownClause(n);
    }
  };
  const someTrace = (clauses: readonly ClauseNode[]): RawBuilder<SqlBool> => {
    const group: FilterNode = clauses.length === 1 ? clauses[0]! : { kind: 'and', operands: clauses, range: clauses[0]!.range };
    const exists = sql<SqlBool>`EXISTS (SELECT 1 FROM traces AS t WHERE ${withinTimeLimit(dialect, sql`${language.traceOfRow} AND ${compileFilter(group, dialect, options)}`)})`;
    // A word search of the group that lists its few traces names the rows that can hold one,
    // looked up once: without it every row of the rollup would be tried for a rare word.
    const ids = listedTraceIds(clauses, options.textMatches);
    if (ids === undefined) return exists;
    if (ids.length === 0) return sql<SqlBool>`(1 = 0)`;
    const key = language.traceKey;
    return sql<SqlBool>`(${sql.ref(`r.${key}`)} IN (SELECT ${sql.ref(`t.${key}`)} FROM traces AS t WHERE t.trace_id IN (${sql.join(ids)})) AND ${exists})`;
  };
  const ownClause = (clause: ClauseNode): RawBuilder<SqlBool> => {
    const field = clause.field;
    if (field.kind === 'session-user') {
      return sql<SqlBool>`EXISTS (SELECT 1 FROM session_users AS su WHERE su.experiment_id = r.experiment_id AND su.session_id = r.session_id
        AND ${stringPredicate(dialect, sql.ref('su.user_id'), clause)})`;
    }
    if (field.kind !== 'rollup') throw new Error(`not a ${language.name} field: ${field.kind}`);
    const column = columnOf(language, field.key)!;
    if (column.fractional) {
      // NULL (no values to average) matches nothing, and NOT of it everything: a boolean, not a third state.
      const { operator, value } = clause as ComparisonNode;
      return sql<SqlBool>`(${column.expression} IS NOT NULL AND ${column.expression} ${sql.raw(operator === '!=' ? '<>' : operator)} ${value.value})`;
    }
    if (column.scale !== undefined) return scaledComparison(column.expression, clause as ComparisonNode, column.scale);
    return field.valueType === 'number' ? integerComparison(column.expression, clause as ComparisonNode) : stringPredicate(dialect, column.expression, clause);
  };
  return compile(node);
}
