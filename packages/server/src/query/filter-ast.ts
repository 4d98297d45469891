/**
 * The trace filter language as an immutable tree (reference `mlflow-search-grammar.md`, §4 and §18).
 *
 * The parser resolves every identifier to the {@link FilterField} it means and checks operator and
 * value against it, so a tree that exists is a valid filter: the compiler never has to reject one.
 * Every node carries the source range it came from, so callers (the UI, error messages) can point
 * at it. Offsets are 0-based UTF-16 indices into the filter text, `end` exclusive.
 */

/** Where a node came from in the filter text. */
export interface SourceRange {
  readonly start: number;
  readonly end: number;
}

/** Comparators that take one value. */
export type ComparisonOperator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'RLIKE' | 'MATCH';

/** A quoted string or a number, as written. */
export type Literal =
  | { readonly kind: 'string'; readonly value: string; readonly range: SourceRange }
  | { readonly kind: 'number'; readonly value: number; readonly text: string; readonly range: SourceRange };

/** Trace columns a filter can compare directly. */
export type TraceAttributeKey = 'timestamp_ms' | 'execution_time_ms' | 'end_time_ms' | 'status' | 'request_id' | 'client_request_id' | 'cost';

/** Span columns a filter can compare directly (`span.content` is {@link SpanContentField}). */
export type SpanColumnKey = 'name' | 'type' | 'status';

/** A trace column: `trace.status`, `timestamp_ms`, ... (aliases already resolved). */
export interface TraceAttributeField {
  readonly kind: 'trace-attribute';
  readonly key: TraceAttributeKey;
}
/** A trace tag; `name` / `trace.name` resolve to the tag `mlflow.traceName`. */
export interface TagField {
  readonly kind: 'tag';
  readonly key: string;
}
/** Trace metadata; `run_id` resolves to the key `mlflow.sourceRun`. */
export interface MetadataField {
  readonly kind: 'metadata';
  readonly key: string;
}
/** `span.name`, `span.type`, `span.status`. */
export interface SpanColumnField {
  readonly kind: 'span-column';
  readonly key: SpanColumnKey;
}
/** `span.content`: LIKE / ILIKE over a span's serialized JSON. */
export interface SpanContentField {
  readonly kind: 'span-content';
}
/** `span.attributes.<name>`: the attribute's decoded value. */
export interface SpanAttributeField {
  readonly kind: 'span-attribute';
  readonly name: string;
}
/**
 * `trace.text`: LIKE / ILIKE over the content of any span of the trace (MLflow's), or MATCH: a
 * word search in the text index (text-search/text-query.ts).
 */
export interface TextField {
  readonly kind: 'text';
}
/** `feedback.<name>` / `expectation.<name>`: valid assessments of that kind and name. */
export interface AssessmentField {
  readonly kind: 'assessment';
  readonly assessmentKind: 'feedback' | 'expectation';
  readonly name: string;
}
/**
 * `assessment.name` / `assessment.type` in MLflow's metric filters: a column of the assessment a
 * metric aggregates (its type is the `kind` column: feedback or expectation).
 */
export interface AssessmentColumnField {
  readonly kind: 'assessment-column';
  readonly key: 'name' | 'type';
}
/** `issue.id`. */
export interface IssueField {
  readonly kind: 'issue';
}
/** `prompt`: the linked prompt versions of tag `mlflow.linkedPrompts`. */
export interface PromptField {
  readonly kind: 'prompt';
}
/**
 * A column of a rollup row in the session and user languages (`turns`, `user_id`, ...): compared
 * as a number or as a string. `key` is the field's canonical name in its language.
 */
export interface RollupField {
  readonly kind: 'rollup';
  readonly key: string;
  readonly valueType: 'number' | 'string';
}
/** `user` in the session language: holds when some user of the session satisfies the clause. */
export interface SessionUserField {
  readonly kind: 'session-user';
}

export type FilterField =
  | TraceAttributeField
  | TagField
  | MetadataField
  | SpanColumnField
  | SpanContentField
  | SpanAttributeField
  | TextField
  | AssessmentField
  | AssessmentColumnField
  | IssueField
  | PromptField
  | RollupField
  | SessionUserField;

/** The span fields: a maximal AND-group of clauses on them must hold on one and the same span. */
export type SpanField = SpanColumnField | SpanContentField | SpanAttributeField;

/** `field <op> value`. Numeric fields always carry a number here, even if it was written quoted. */
export interface ComparisonNode {
  readonly kind: 'comparison';
  readonly field: FilterField;
  readonly operator: ComparisonOperator;
  readonly value: Literal;
  /** The identifier as written, e.g. ``metadata.`mlflow.trace.user` ``. */
  readonly fieldText: string;
  readonly range: SourceRange;
}

/** `field IN (...)` / `field NOT IN (...)`: a non-empty list of strings. */
export interface InListNode {
  readonly kind: 'in-list';
  readonly field: FilterField;
  readonly negated: boolean;
  readonly values: readonly string[];
  readonly fieldText: string;
  readonly range: SourceRange;
}

/** `field IS NULL` / `field IS NOT NULL`: whether the key exists at all. */
export interface NullCheckNode {
  readonly kind: 'null-check';
  readonly field: FilterField;
  /** True for `IS NOT NULL`. */
  readonly negated: boolean;
  readonly fieldText: string;
  readonly range: SourceRange;
}

export type ClauseNode = ComparisonNode | InListNode | NullCheckNode;

/** Two or more operands, none of them itself an `and` (the parser flattens). */
export interface AndNode {
  readonly kind: 'and';
  readonly operands: readonly FilterNode[];
  readonly range: SourceRange;
}

/** Two or more operands, none of them itself an `or`. */
export interface OrNode {
  readonly kind: 'or';
  readonly operands: readonly FilterNode[];
  readonly range: SourceRange;
}

export interface NotNode {
  readonly kind: 'not';
  readonly operand: FilterNode;
  readonly range: SourceRange;
}

export type FilterNode = AndNode | OrNode | NotNode | ClauseNode;

/** True when the clause is on a span field, so it joins its AND-siblings' same-span group. */
export function isSpanClause(node: FilterNode): node is ClauseNode & { field: SpanField } {
  if (node.kind !== 'comparison' && node.kind !== 'in-list' && node.kind !== 'null-check') return false;
  const kind = node.field.kind;
  return kind === 'span-column' || kind === 'span-content' || kind === 'span-attribute';
}

/**
 * True when the clause is on a trace field, as opposed to a session or user field: in the session
 * and user languages a maximal AND-group of them must hold on one and the same trace.
 */
export function isTraceClause(node: FilterNode): node is ClauseNode {
  if (node.kind !== 'comparison' && node.kind !== 'in-list' && node.kind !== 'null-check') return false;
  return node.field.kind !== 'rollup' && node.field.kind !== 'session-user';
}

/**
 * The filter's meaning without source positions or spelling: equal for `status = 'OK'` and
 * `attributes.status = "OK"`. Page tokens are bound to it.
 *
 * @example
 * canonicalFilter(parseFilter("trace.status = 'OK'")) === canonicalFilter(parseFilter('status = "OK"')); // true
 */
export function canonicalFilter(node: FilterNode | undefined): string {
  if (node === undefined) return '';
  return JSON.stringify(node, (key: string, value: unknown) =>
    key === 'range' || key === 'fieldText' || key === 'text' ? undefined : value,
  );
}
