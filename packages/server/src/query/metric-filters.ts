import type { MetricViewType } from '@threadline/protocol';
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { invalidParameter } from '../errors.js';
import type { SqlDialect } from '../store/sql-dialect.js';
import { canonicalFilter, type ClauseNode, type FilterNode } from './filter-ast.js';
import { compileFilter, joinConditions, nonNull, stringPredicate } from './filter-compiler.js';
import { resolveField, type FieldResolver } from './filter-fields.js';
import { filterError, type IdentifierToken } from './filter-lexer.js';
import { parseFilter } from './filter-parser.js';
import { MAX_METRIC_FILTERS } from './limits.js';

/** The filters of a metrics query as one condition, and their meaning for page tokens. */
export interface CompiledMetricFilters {
  /** On the row aggregated: `t` its trace, `s` its span, `a` its assessment; undefined without filters. */
  condition: RawBuilder<SqlBool> | undefined;
  /** Equal for filters that mean the same, whatever their spelling. */
  canonical: string;
}

/**
 * MLflow's metric filters (`QueryTraceMetrics.filters`), all of which must hold:
 * - `trace.status = "ERROR"`, `trace.tag.<key> = "v"`, `trace.metadata.<key> = "v"`, where the key
 *   runs to the end and may have dots (`trace.metadata.mlflow.sourceRun`);
 * - in the SPANS view, `span.name`, `span.type`, `span.status`: the span aggregated;
 * - in the ASSESSMENTS view, `assessment.name`, `assessment.type`: the assessment aggregated.
 *
 * MLflow takes one `=` clause per filter. Threadline reads each filter with its trace filter
 * language (filter-parser.ts), so other comparators, AND, OR, NOT and the fields of trace search
 * work too: `tag.env IN ('a', 'b')`, `feedback.rating > 3`, and in the SPANS view
 * `span.attributes.<name>` and `span.content` of the span aggregated.
 *
 * @example
 * const { condition } = compileMetricFilters(['trace.status = "OK"', 'span.type = "LLM"'], 'SPANS', dialect);
 */
export function compileMetricFilters(filters: readonly string[], view: MetricViewType, dialect: SqlDialect): CompiledMetricFilters {
  if (filters.length > MAX_METRIC_FILTERS) throw invalidParameter(`Invalid filters: ${filters.length} given; at most ${MAX_METRIC_FILTERS}.`);
  const resolve = metricFieldResolver(view);
  const trees = filters.flatMap((filter) => parseFilter(filter, resolve) ?? []);
  const conditions = trees.map((tree) => compileOnRow(tree, dialect));
  return {
    condition: conditions.length === 0 ? undefined : joinConditions(conditions, 'AND'),
    canonical: JSON.stringify(trees.map(canonicalFilter)),
  };
}

/** The trace language's fields, plus MLflow's metric spellings; span and assessment fields only in their view. */
function metricFieldResolver(view: MetricViewType): FieldResolver {
  return (token: IdentifierToken) => {
    const [first, second, ...rest] = token.parts;
    const bare = (part: typeof first, text: string) => part !== undefined && !part.quoted && part.text === text;
    if (bare(first, 'trace') && rest.length > 0) {
      const key = rest.map((p) => p.text).join('.');
      if (bare(second, 'tag')) return { kind: 'tag', key };
      if (bare(second, 'metadata')) return { kind: 'metadata', key };
    }
    if (bare(first, 'span') && second !== undefined && view !== 'SPANS') {
      throw invalidParameter(`Filtering by span is only supported for SPANS view type, got ${view}`);
    }
    if (bare(first, 'assessment') && second !== undefined) {
      if (view !== 'ASSESSMENTS') throw invalidParameter(`Filtering by assessment is only supported for ASSESSMENTS view type, got ${view}`);
      if (rest.length === 0 && (second.text === 'name' || second.text === 'type')) return { kind: 'assessment-column', key: second.text };
      throw filterError('unknown assessment field', token.text, token.start, 'Assessment fields are assessment.name and assessment.type.');
    }
    return resolveField(token);
  };
}

/** A filter on the row aggregated: span and assessment clauses on the row itself, the others on its trace. */
function compileOnRow(node: FilterNode, dialect: SqlDialect): RawBuilder<SqlBool> {
  switch (node.kind) {
    case 'and':
    case 'or':
      return joinConditions(node.operands.map((operand) => compileOnRow(operand, dialect)), node.kind === 'and' ? 'AND' : 'OR');
    case 'not':
      return sql<SqlBool>`(NOT ${compileOnRow(node.operand, dialect)})`;
    default:
      return rowClause(node, dialect) ?? compileFilter(node, dialect);
  }
}

/** The clause on the span or assessment aggregated, or undefined when it is about the trace. */
function rowClause(clause: ClauseNode, dialect: SqlDialect): RawBuilder<SqlBool> | undefined {
  const field = clause.field;
  switch (field.kind) {
    case 'span-column':
      // Only a span's type may be missing: it matches no comparison (and NOT of it, everything).
      return field.key === 'type' ? nonNull(sql.ref('s.type'), stringPredicate(dialect, sql.ref('s.type'), clause)) : stringPredicate(dialect, sql.ref(`s.${field.key}`), clause);
    case 'span-attribute': {
      const value = dialect.spanAttributeText(sql.ref('s.content'), sql.val(field.name));
      return nonNull(value, stringPredicate(dialect, value, clause));
    }
    case 'span-content':
      return stringPredicate(dialect, sql.ref('s.content'), clause);
    case 'assessment-column':
      return stringPredicate(dialect, sql.ref(field.key === 'name' ? 'a.name' : 'a.kind'), clause);
    default:
      return undefined;
  }
}
