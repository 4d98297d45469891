/**
 * How much a search may ask for (DESIGN.md §8, "bounded work everywhere"). Past any of these a
 * search is a 400 naming the limit, refused before any SQL runs, the same on every database.
 * Each bound is far above what a person or the UI writes and far below what hurts a server:
 * what the work grows with is said next to each.
 */

/**
 * Characters in a filter. Lexing and parsing are linear in it; this keeps one request's parse to
 * milliseconds while leaving room for an IN list of {@link MAX_LIST_VALUES} trace ids (~40 KB).
 */
export const MAX_FILTER_LENGTH = 65_536;

/**
 * Clauses (`field <op> value`) in a filter. Each clause is a condition, most of them a subquery,
 * evaluated per candidate row. SQLite also refuses expressions nested deeper than 1,000, which a
 * chain of about 2,000 ORs reaches (a 500 before this limit).
 */
export const MAX_FILTER_CLAUSES = 200;

/**
 * Levels of parentheses and NOT. The parser and the compiler recurse once per level, so without a
 * bound 100,000 nested `(` overflow the stack.
 */
export const MAX_FILTER_DEPTH = 32;

/**
 * Values in the IN and NOT IN lists of one filter, all lists together. Each is a bound parameter;
 * SQLite takes at most 32,766 per statement and PostgreSQL 65,535.
 */
export const MAX_LIST_VALUES = 1_000;

/**
 * Characters in a LIKE or ILIKE pattern. Both databases match a pattern in time proportional to the
 * value's length times the pattern's literal run after a `%`, and a span's content can be tens of
 * MiB: `%` followed by 200 `a`s takes ~16 s over 60 MiB of `a`s on SQLite (~27 s on PostgreSQL).
 * The number of wildcards does not matter: both give up on a `%` once a later one has reached the
 * end (`%a%a…%b`, 19 `%`, takes 0.1 s over the same value), so wildcards are not counted.
 */
export const MAX_LIKE_PATTERN_LENGTH = 200;

/**
 * Characters in an RLIKE pattern. Matching is linear in the value on both stores (RE2 on SQLite,
 * PostgreSQL's own engine), with a factor that grows with the pattern's size; the time limit on a
 * search bounds the rest.
 */
export const MAX_REGEX_PATTERN_LENGTH = 1_000;

/**
 * Keys in an `order_by` list. A key on a tag or metadata value is a subquery per sorted row; ten
 * is more than any table is sorted by.
 */
export const MAX_ORDER_BY_KEYS = 10;

/** Experiments one trace search covers: each is a bound parameter of the same `IN` list. */
export const MAX_SEARCH_EXPERIMENTS = 1_000;

/**
 * Filters in one metrics query (MLflow's `filters` list, all of which must hold). Each is bounded
 * as a trace filter is; this bounds how many such conditions a row is tested against.
 */
export const MAX_METRIC_FILTERS = 20;
