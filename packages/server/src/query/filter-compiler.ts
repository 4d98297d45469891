import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import { NANOS_PER_USD } from '../cost/units.js';
import { TraceMetadataKey, TraceTagKey } from '@threadline/protocol';
import type { SqlDialect } from '../store/sql-dialect.js';
import { traceTextCondition, type TextMatches } from '../store/trace-text.js';
import { parseTextQuery } from '../text-search/text-query.js';
import {
  isSpanClause,
  type AssessmentField,
  type ClauseNode,
  type ComparisonNode,
  type ComparisonOperator,
  type FilterNode,
  type TraceAttributeKey,
} from './filter-ast.js';
import { pythonJsonText } from '../json.js';
import { portableRegex } from './regex-pattern.js';

/**
 * Compiles a filter tree to one SQL condition on the `traces` table aliased `t`. Every value is a
 * bound parameter; the only text spliced into the SQL is this module's own.
 *
 * Every condition it emits is two-valued (never SQL NULL), so that `NOT` means "the clause does
 * not hold": `NOT trace.client_request_id = 'x'` includes traces that have no client request id.
 *
 * @example
 * const where = compileFilter(parseFilter("tag.env = 'prod'")!, sqliteDialect);
 * await db.selectFrom('traces as t').select('t.trace_id').where(where).execute();
 */
export function compileFilter(node: FilterNode, dialect: SqlDialect, options: CompileOptions = {}): RawBuilder<SqlBool> {
  return new FilterCompiler(dialect, options).compile(node);
}

type Condition = RawBuilder<SqlBool>;

export interface CompileOptions {
  /** The filter's word searches, resolved for the plan that suits how many traces they match (store/trace-text.ts). */
  textMatches?: TextMatches;
}

const TRUE: Condition = sql<SqlBool>`(1 = 1)`;
const FALSE: Condition = sql<SqlBool>`(1 = 0)`;
// Integers in JS are exact up to 2^53; ms timestamps and durations are far below it.
const MAX_EXACT_INTEGER = 2 ** 53;

const SESSION_SCOPE_PATH = ['metadata', TraceMetadataKey.SESSION] as const;
/** Metadata keys mirrored in indexed `traces` columns (schema.ts). */
const METADATA_COLUMNS: ReadonlyMap<string, string> = new Map([
  [TraceMetadataKey.USER, 't.user_id'],
  [TraceMetadataKey.SESSION, 't.session_id'],
]);

class FilterCompiler {
  constructor(
    private readonly dialect: SqlDialect,
    private readonly options: CompileOptions,
  ) {}

  compile(node: FilterNode): Condition {
    switch (node.kind) {
      case 'and':
        return this.compileAnd(node.operands);
      case 'or':
        return joinConditions(node.operands.map((o) => this.compile(o)), 'OR');
      case 'not':
        return sql<SqlBool>`(NOT ${this.compile(node.operand)})`;
      default:
        return isSpanClause(node) ? this.spanGroup([node]) : this.compileClause(node);
    }
  }

  /** Span clauses among the operands form one same-span group (decision "span conditions with OR and NOT"). */
  private compileAnd(operands: readonly FilterNode[]): Condition {
    const spanClauses = operands.filter(isSpanClause);
    const conditions: Condition[] = [];
    let spanGroupPlaced = false;
    for (const operand of operands) {
      if (!isSpanClause(operand)) conditions.push(this.compile(operand));
      else if (!spanGroupPlaced) {
        conditions.push(this.spanGroup(spanClauses));
        spanGroupPlaced = true;
      }
    }
    return joinConditions(conditions, 'AND');
  }

  private spanGroup(clauses: readonly ClauseNode[]): Condition {
    const conditions = clauses.map((clause) => {
      const field = clause.field;
      const value =
        field.kind === 'span-column'
          ? sql.ref(`s.${field.key}`)
          : field.kind === 'span-attribute'
            ? this.dialect.spanAttributeText(sql.ref('s.content'), sql.val(field.name))
            : sql.ref('s.content');
      return this.valuePredicate(value, clause);
    });
    return this.spansExist(joinConditions(conditions, 'AND'));
  }

  /** Some span of the trace satisfies `condition`; a trace may have many spans, so each is timed. */
  private spansExist(condition: Condition): Condition {
    return sql<SqlBool>`EXISTS (SELECT 1 FROM spans AS s WHERE ${withinTimeLimit(this.dialect, sql`s.trace_key = t.trace_key AND ${condition}`)})`;
  }

  private compileClause(clause: ClauseNode): Condition {
    const field = clause.field;
    switch (field.kind) {
      case 'trace-attribute':
        return this.traceAttribute(field.key, clause);
      case 'tag':
        return this.keyValue('trace_tags', field.key, clause);
      case 'metadata': {
        const column = METADATA_COLUMNS.get(field.key);
        const indexed = clause.kind === 'in-list' || (clause.kind === 'comparison' && (clause.operator === '=' || clause.operator === '!='));
        if (column && indexed) return nonNull(sql.ref(column), this.valuePredicate(sql.ref(column), clause));
        return this.keyValue('trace_metadata', field.key, clause);
      }
      case 'text':
        if (clause.kind === 'comparison' && clause.operator === 'MATCH') return this.textMatch(clause.value.value as string);
        return this.spansExist(this.valuePredicate(sql.ref('s.content'), clause));
      case 'assessment':
        return this.assessment(field, clause);
      case 'issue':
        return sql<SqlBool>`EXISTS (SELECT 1 FROM assessments AS a WHERE a.trace_id = t.trace_id AND a.kind = 'issue' AND a.valid = 1 AND ${this.valuePredicate(sql.ref('a.name'), clause)})`;
      case 'prompt':
        return this.prompt(clause as ComparisonNode);
      default:
        // Span fields are compiled in their same-span group; assessment columns by the metrics filter.
        throw new Error(`no trace condition for a ${field.kind} field`);
    }
  }

  /** Every term in the text index (validated by the parser): one lookup each, so that a trace's words may lie in different documents. */
  private textMatch(query: string): Condition {
    const terms = parseTextQuery(query);
    if (typeof terms === 'string') throw new Error(`unchecked word search: ${terms}`);
    return traceTextCondition(this.dialect, terms, this.options.textMatches?.get(query));
  }

  private traceAttribute(key: TraceAttributeKey, clause: ClauseNode): Condition {
    switch (key) {
      case 'timestamp_ms':
        return integerComparison(sql.ref('t.request_time'), clause as ComparisonNode);
      case 'execution_time_ms':
        return nonNull(sql.ref('t.execution_duration'), integerComparison(sql.ref('t.execution_duration'), clause as ComparisonNode));
      case 'end_time_ms':
        return integerComparison(sql`(t.request_time + COALESCE(t.execution_duration, 0))`, clause as ComparisonNode);
      case 'status':
        return this.valuePredicate(sql.ref('t.state'), clause);
      case 'request_id':
        return this.valuePredicate(sql.ref('t.trace_id'), clause);
      case 'client_request_id':
        return nonNull(sql.ref('t.client_request_id'), this.valuePredicate(sql.ref('t.client_request_id'), clause));
      case 'cost':
        // A trace without a priced call has no cost: it matches no comparison.
        return nonNull(sql.ref('t.cost_nanos'), scaledComparison(sql.ref('t.cost_nanos'), clause as ComparisonNode, NANOS_PER_USD));
    }
  }

  /**
   * Tags and metadata: a clause holds when the key exists and its value satisfies the comparator,
   * so `!=` never matches a trace without the key (as in MLflow). IS [NOT] NULL tests the key.
   */
  private keyValue(table: 'trace_tags' | 'trace_metadata', key: string, clause: ClauseNode): Condition {
    const base = sql`SELECT 1 FROM ${sql.table(table)} AS kv WHERE kv.trace_key = t.trace_key AND kv.key = ${key}`;
    if (clause.kind === 'null-check') return clause.negated ? sql<SqlBool>`EXISTS (${base})` : sql<SqlBool>`NOT EXISTS (${base})`;
    return sql<SqlBool>`EXISTS (${base} AND ${this.valuePredicate(sql.ref('kv.value'), clause)})`;
  }

  /**
   * Feedback and expectations, matched by name among valid assessments of that kind. An assessment
   * scoped to a session (metadata `mlflow.trace.session`) is stored on one trace of the session but
   * counts for every trace of it (reference §10); so does one stored on the session itself.
   */
  private assessment(field: AssessmentField, clause: ClauseNode): Condition {
    const valueCondition = clause.kind === 'comparison' ? this.assessmentValue(clause) : TRUE;
    const matches = sql`a.name = ${field.name} AND a.kind = ${field.assessmentKind} AND a.valid = 1 AND ${valueCondition}`;
    const own = sql`EXISTS (SELECT 1 FROM assessments AS a WHERE a.trace_id = t.trace_id AND ${matches})`;
    const sessionScope = this.dialect.jsonTextAt(sql.ref('a.content'), SESSION_SCOPE_PATH);
    const session = sql`(t.session_id IS NOT NULL AND EXISTS (SELECT 1 FROM traces AS st JOIN assessments AS a ON a.trace_id = st.trace_id
      WHERE st.experiment_id = t.experiment_id AND st.session_id = t.session_id AND st.trace_id <> t.trace_id
      AND ${matches} AND ${sessionScope} = t.session_id)
      OR EXISTS (SELECT 1 FROM assessments AS a WHERE a.experiment_id = t.experiment_id AND a.session_id = t.session_id AND a.trace_id IS NULL AND ${matches}))`;
    const exists = sql<SqlBool>`(${own} OR ${session})`;
    return clause.kind === 'null-check' && !clause.negated ? sql<SqlBool>`(NOT ${exists})` : exists;
  }

  /**
   * Values are JSON text. A string compares with the raw JSON (`true`, `5`) or the JSON-quoted
   * string (`"yes"`), as in MLflow; a number, or any operand of < <= > >=, compares numerically
   * with a stored JSON number (decision 3). Patterns run on the raw JSON text, as in MLflow.
   */
  private assessmentValue(clause: ComparisonNode): Condition {
    const raw = sql.ref('a.value');
    const number = this.dialect.jsonNumber(raw);
    const numberIs = (operator: ComparisonOperator, value: number): Condition =>
      sql<SqlBool>`(${number} IS NOT NULL AND ${number} ${sql.raw(operator)} ${clampNumber(value)})`;
    const value = clause.value;
    const equals = (): Condition => {
      if (value.kind === 'number') return numberIs('=', value.value);
      // The stored text is Python's json.dumps of the value (assessment-rows.ts), so the quoted
      // form is too: `= 'café'` finds the string stored as "caf\u00e9".
      const alternatives = [sql<SqlBool>`${raw} = ${value.value}`, sql<SqlBool>`${raw} = ${pythonJsonText(value.value)}`];
      const asNumber = Number(value.value);
      if (value.value.trim() !== '' && Number.isFinite(asNumber)) alternatives.push(numberIs('=', asNumber));
      return joinConditions(alternatives, 'OR');
    };
    switch (clause.operator) {
      case '=':
        return nonNull(raw, equals());
      case '!=':
        return nonNull(raw, sql<SqlBool>`(NOT ${equals()})`);
      case '<':
      case '<=':
      case '>':
      case '>=':
        return numberIs(clause.operator, value.value as number);
      default:
        return nonNull(raw, this.valuePredicate(raw, clause));
    }
  }

  /**
   * `prompt = "name/version"`: the tag `mlflow.linkedPrompts` holds a JSON list of
   * `{"name": ..., "version": ...}`. A regex finds one object with both, in either key order,
   * with the version quoted or not; it needs no JSON parsing, which PostgreSQL cannot guard.
   */
  private prompt(clause: ComparisonNode): Condition {
    const [name, version] = (clause.value.value as string).split('/') as [string, string];
    const nameRe = `"name"\\s*:\\s*${escapeRegex(JSON.stringify(name))}`;
    const versionRe = `"version"\\s*:\\s*("${escapeRegex(version)}"|${escapeRegex(version)})\\s*[,}]`;
    const pattern = `\\{[^{}]*(${nameRe}[^{}]*${versionRe}|${versionRe}[^{}]*${nameRe})`;
    return sql<SqlBool>`EXISTS (SELECT 1 FROM trace_tags AS kv WHERE kv.trace_key = t.trace_key AND kv.key = ${TraceTagKey.LINKED_PROMPTS}
      AND ${this.dialect.regexMatch(sql.ref('kv.value'), sql.val(portableRegex(pattern)))})`;
  }

  private valuePredicate(value: Expression<unknown>, clause: ClauseNode): Condition {
    return stringPredicate(this.dialect, value, clause);
  }
}

/**
 * A string comparison, list or pattern of `clause` on a non-null text expression; shared with the
 * session and user languages.
 */
export function stringPredicate(dialect: SqlDialect, value: Expression<unknown>, clause: ClauseNode): Condition {
  if (clause.kind === 'in-list') {
    const list = sql.join(clause.values.map((v) => sql.val(v)));
    return clause.negated ? sql<SqlBool>`(${value} NOT IN (${list}))` : sql<SqlBool>`(${value} IN (${list}))`;
  }
  if (clause.kind === 'null-check') throw new Error('IS NULL has no value predicate');
  const operand = sql.val(clause.value.value);
  switch (clause.operator) {
    case '=':
      return sql<SqlBool>`(${value} = ${operand})`;
    case '!=':
      return sql<SqlBool>`(${value} <> ${operand})`;
    case 'LIKE':
      return dialect.like(value, operand);
    case 'ILIKE':
      return dialect.ilike(value, operand);
    case 'RLIKE':
      // Validated by the parser; both stores run the same portable form of it.
      return dialect.regexMatch(value, sql.val(portableRegex(clause.value.value as string)));
    default:
      throw new Error(`operator ${clause.operator} on a string field`);
  }
}

/**
 * `conditions` behind the dialect's time-limit check, which must come first to be tested for every
 * row (SqlDialect.timeLimitCheck); for the WHERE clause of a subquery that may scan many rows.
 */
export function withinTimeLimit(dialect: SqlDialect, conditions: RawBuilder<unknown>): RawBuilder<unknown> {
  return dialect.timeLimitCheck ? sql`${dialect.timeLimitCheck} AND ${conditions}` : conditions;
}

export function joinConditions(conditions: readonly Condition[], operator: 'AND' | 'OR'): Condition {
  if (conditions.length === 1) return conditions[0]!;
  return sql<SqlBool>`(${sql.join(conditions, sql.raw(` ${operator} `))})`;
}

/** Makes a comparison on a nullable expression two-valued: false, not NULL, when it is NULL. */
export function nonNull(value: Expression<unknown>, condition: Condition): Condition {
  return sql<SqlBool>`(${value} IS NOT NULL AND ${condition})`;
}

/**
 * A comparison with an integer column. A fractional bound is rounded to the equivalent integer
 * one (`> 1.5` is `>= 2`), so the parameter binds as an integer and PostgreSQL keeps using the
 * bigint index instead of casting every row to numeric.
 */
export function integerComparison(column: Expression<unknown>, clause: ComparisonNode): Condition {
  const bound = clampNumber(clause.value.value as number);
  const operator = clause.operator;
  if (Number.isInteger(bound)) return sql<SqlBool>`(${column} ${sql.raw(operator === '!=' ? '<>' : operator)} ${bound})`;
  switch (operator) {
    case '=':
      return FALSE;
    case '!=':
      return TRUE;
    case '>':
    case '>=':
      return sql<SqlBool>`(${column} >= ${Math.ceil(bound)})`;
    case '<':
    case '<=':
      return sql<SqlBool>`(${column} <= ${Math.floor(bound)})`;
    default:
      throw new Error(`operator ${operator} on a number`);
  }
}

/**
 * A comparison of a column that stores a quantity in units of 1/`scale` (cost in nano-dollars)
 * with a value the filter gives in whole units (dollars). The value is scaled once, here, so the
 * column is compared as stored and its index serves; a product a float error away from a whole
 * number counts as that number (`cost >= 0.05` includes exactly 50,000,000 nano-dollars).
 */
export function scaledComparison(column: Expression<unknown>, clause: ComparisonNode, scale: number): Condition {
  const scaled = (clause.value.value as number) * scale;
  const near = Math.round(scaled);
  const value = Math.abs(scaled - near) < 1e-6 * Math.max(1, Math.abs(near)) ? near : scaled;
  return integerComparison(column, { ...clause, value: { kind: 'number', value, text: String(value), range: clause.value.range } });
}

/** Keeps numbers where both databases bind them exactly; beyond ±2^53 every stored time compares alike. */
function clampNumber(value: number): number {
  if (Number.isNaN(value)) return 0;
  return Math.max(-MAX_EXACT_INTEGER, Math.min(MAX_EXACT_INTEGER, value));
}

/**
 * Escapes the regex syntax characters. Only these: JavaScript's `u` mode refuses a backslash
 * before anything else, while an ARE reads a backslash before any punctuation as a literal.
 */
function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, (c) => `\\${c}`);
}
