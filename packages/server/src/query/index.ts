/**
 * The trace filter language: parse, compile to SQL, search with keyset pages. The store calls
 * {@link findTraceIds}; the UI and SDK may reuse {@link parseFilter} to check a filter as it is typed.
 */
export type {
  AndNode,
  AssessmentColumnField,
  AssessmentField,
  ClauseNode,
  ComparisonNode,
  ComparisonOperator,
  FilterField,
  FilterNode,
  InListNode,
  IssueField,
  Literal,
  MetadataField,
  NotNode,
  NullCheckNode,
  OrNode,
  PromptField,
  RollupField,
  SessionUserField,
  SourceRange,
  SpanAttributeField,
  SpanColumnField,
  SpanColumnKey,
  SpanContentField,
  SpanField,
  TagField,
  TextField,
  TraceAttributeField,
  TraceAttributeKey,
} from './filter-ast.js';
export { canonicalFilter } from './filter-ast.js';
export { parseFilter } from './filter-parser.js';
export { compileFilter } from './filter-compiler.js';
export { parseOrderBy, type OrderKey } from './order-by.js';
export { regexPatternProblem, likePatternProblem, portableRegex, compileRlike, MAX_REGEX_SIZE } from './regex-pattern.js';
export {
  MAX_FILTER_CLAUSES,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LENGTH,
  MAX_LIKE_PATTERN_LENGTH,
  MAX_LIST_VALUES,
  MAX_METRIC_FILTERS,
  MAX_ORDER_BY_KEYS,
  MAX_REGEX_PATTERN_LENGTH,
  MAX_SEARCH_EXPERIMENTS,
} from './limits.js';
export { findTraceIds, type TraceIdPage, type TraceSearchRequest } from './trace-search.js';
export { findSessions, findSessionTraceIds, SESSION_LANGUAGE, MAX_SESSION_USER_IDS, type SessionPage, type SessionSummary, type SessionTracesRequest } from './session-search.js';
export { findUsers, USER_LANGUAGE, type UserPage, type UserSummary } from './user-search.js';
export { compileRollupFilter, rollupFieldResolver, type RollupLanguage, type RollupSearchRequest } from './rollup-search.js';
export { compileMetricFilters, type CompiledMetricFilters } from './metric-filters.js';
