import { TIME_BUCKET_DIMENSION, SpanAttributeKey, type AggregationType, type MetricViewType } from '@threadline/protocol';
import { NANOS_PER_USD } from '../cost/units.js';
import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import { invalidParameter } from '../errors.js';
import { pythonFloatRepr } from '../json.js';
import { compileMetricFilters, MAX_SEARCH_EXPERIMENTS, type OrderKey } from '../query/index.js';
import { joinConditions } from '../query/filter-compiler.js';
import { afterRow, nextPageToken } from '../query/keyset.js';
import { decodePageToken, searchDigest } from '../query/page-token.js';
import type { Database } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';

/** One aggregation a request asks for; checked against its metric here. */
export interface MetricAggregation {
  type: AggregationType;
  /** 0 to 100, with PERCENTILE only. */
  percentileValue?: number;
}

/** MLflow's `QueryTraceMetrics` request, its JSON shapes already read (http/mlflow-metrics.ts). */
export interface MetricsQuery {
  /** Numeric strings; at least one. */
  experimentIds: string[];
  view: MetricViewType;
  metricName: string;
  aggregations: MetricAggregation[];
  dimensions: string[];
  filters: string[];
  /** Bucket width; buckets start at its multiples since the epoch. */
  timeIntervalSeconds?: number;
  /** Traces requested within [startTimeMs, endTimeMs], ends included, as in MLflow. */
  startTimeMs?: number;
  endTimeMs?: number;
  /** Already checked 1..1000 by the HTTP layer. */
  maxResults: number;
  pageToken?: string;
}

/** One group's aggregates: MLflow's `MetricDataPoint` without the metric name. */
export interface MetricDataPoint {
  dimensions: Record<string, string>;
  /** By aggregation label: `COUNT`, `AVG`, `P95.0`, ... */
  values: Record<string, number>;
}

export interface MetricDataPage {
  dataPoints: MetricDataPoint[];
  nextPageToken?: string;
}

type Sql = RawBuilder<unknown>;

/** An expression of a row of a view, which may differ by database. */
type RowExpression = (dialect: SqlDialect) => Sql;

/** A metric of a view: what MLflow lets a request ask of it, and the value it aggregates. */
interface MetricDefinition {
  /** The aggregation types MLflow accepts for it. */
  readonly aggregations: readonly AggregationType[];
  /** The dimensions MLflow lets it be grouped by (the time bucket is always allowed). */
  readonly dimensions: readonly string[];
  /** Its value on one row of the view; NULL values are left out of every aggregation. */
  readonly value: RowExpression;
  /** COUNT counts distinct values (sessions), not rows. */
  readonly countsDistinct?: boolean;
}

/** What one view aggregates, and how its rows are found, bucketed and grouped. */
interface ViewDefinition {
  /** Its rows: traces `t`, joined to the spans `s` or assessments `a` aggregated. */
  readonly from: Sql;
  /** A row's time in ms, which time buckets divide. */
  readonly timeMs: Sql;
  readonly dimensions: ReadonlyMap<string, RowExpression>;
  /** In MLflow's order, in which its error messages list them. */
  readonly metrics: ReadonlyMap<string, MetricDefinition>;
}

const COUNT_ONLY: readonly AggregationType[] = ['COUNT'];
const DISTRIBUTION: readonly AggregationType[] = ['AVG', 'PERCENTILE'];
const TOTAL_AND_DISTRIBUTION: readonly AggregationType[] = ['SUM', 'AVG', 'PERCENTILE'];

const column = (ref: string): RowExpression => () => sql.ref(ref);
const spanAttribute = (key: string): RowExpression => (dialect) => dialect.spanAttributeText(sql.ref('s.content'), sql.val(key));

const TRACE_NAME = 'trace_name';
const TRACE_STATUS = 'trace_status';
const SPAN_NAME = 'span_name';
const SPAN_TYPE = 'span_type';
const SPAN_STATUS = 'span_status';
const SPAN_MODEL_NAME = 'span_model_name';
const SPAN_MODEL_PROVIDER = 'span_model_provider';
const ASSESSMENT_NAME = 'assessment_name';
const ASSESSMENT_VALUE = 'assessment_value';

const spanCost = (ref: string): MetricDefinition => ({
  aggregations: TOTAL_AND_DISTRIBUTION,
  dimensions: [SPAN_MODEL_NAME, SPAN_MODEL_PROVIDER],
  value: () => sql`(CAST(${sql.ref(ref)} AS DOUBLE PRECISION) / ${sql.lit(NANOS_PER_USD)})`,
});
const tokens = (ref: string): MetricDefinition => ({ aggregations: TOTAL_AND_DISTRIBUTION, dimensions: [TRACE_NAME], value: column(ref) });

/**
 * An assessment's value as a number, as MLflow reads it: true and "yes" are 1, false and "no" 0,
 * a JSON number itself, anything else (strings, lists, objects, null) no value.
 */
function assessmentNumber(dialect: SqlDialect): Sql {
  return sql`(CASE WHEN a.value IN ('true', '"yes"') THEN 1.0 WHEN a.value IN ('false', '"no"') THEN 0.0 ELSE ${dialect.jsonNumber(sql.ref('a.value'))} END)`;
}

/**
 * MLflow's metrics by view (its `sql_trace_metrics_utils` configs), on Threadline's tables. A new
 * metric is one more entry: a trace-level cost would be `{ value: column('t.cost') }`, a per-span
 * one a correlated lookup of the span's row in its table (NULL, so left out, for spans without one).
 */
const VIEWS: Readonly<Record<MetricViewType, ViewDefinition>> = {
  TRACES: {
    from: sql`traces AS t`,
    timeMs: sql`t.request_time`,
    dimensions: new Map<string, RowExpression>([
      [TRACE_NAME, column('t.name')],
      [TRACE_STATUS, column('t.state')],
    ]),
    metrics: new Map<string, MetricDefinition>([
      ['trace_count', { aggregations: COUNT_ONLY, dimensions: [TRACE_NAME, TRACE_STATUS], value: column('t.trace_id') }],
      ['session_count', { aggregations: COUNT_ONLY, dimensions: [], value: column('t.session_id'), countsDistinct: true }],
      ['latency', { aggregations: DISTRIBUTION, dimensions: [TRACE_NAME], value: column('t.execution_duration') }],
      ['input_tokens', tokens('t.input_tokens')],
      ['output_tokens', tokens('t.output_tokens')],
      ['total_tokens', tokens('t.total_tokens')],
    ]),
  },
  SPANS: {
    // A span's priced call, if it made one (store/cost-writes.ts): its cost metrics.
    from: sql`traces AS t JOIN spans AS s ON s.trace_key = t.trace_key LEFT JOIN llm_calls AS c ON c.trace_key = s.trace_key AND c.span_id = s.span_id`,
    timeMs: sql`(s.start_ns / 1000000)`,
    dimensions: new Map<string, RowExpression>([
      [SPAN_NAME, column('s.name')],
      [SPAN_TYPE, column('s.type')],
      [SPAN_STATUS, column('s.status')],
      [SPAN_MODEL_NAME, spanAttribute(SpanAttributeKey.LLM_MODEL)],
      [SPAN_MODEL_PROVIDER, spanAttribute(SpanAttributeKey.LLM_PROVIDER)],
    ]),
    metrics: new Map<string, MetricDefinition>([
      ['span_count', { aggregations: COUNT_ONLY, dimensions: [SPAN_NAME, SPAN_TYPE, SPAN_STATUS, SPAN_MODEL_NAME, SPAN_MODEL_PROVIDER], value: column('s.span_id') }],
      // Whole milliseconds, rounded down, as MLflow divides; none for a span still open.
      ['latency', { aggregations: DISTRIBUTION, dimensions: [SPAN_NAME, SPAN_STATUS], value: () => sql`((s.end_ns - s.start_ns) / 1000000)` }],
      // USD per priced span, as MLflow reads `mlflow.llm.cost`; spans without a price are left out.
      ['input_cost', spanCost('c.input_cost_nanos')],
      ['output_cost', spanCost('c.output_cost_nanos')],
      ['total_cost', spanCost('c.cost_nanos')],
    ]),
  },
  ASSESSMENTS: {
    // Valid feedback and expectations of traces: not those overridden, not issues, not a session's own.
    from: sql`traces AS t JOIN assessments AS a ON a.trace_id = t.trace_id AND a.valid = 1 AND a.kind IN ('feedback', 'expectation')`,
    timeMs: sql`a.create_time`,
    dimensions: new Map<string, RowExpression>([
      [ASSESSMENT_NAME, column('a.name')],
      // The value's JSON text, as MLflow groups it: "yes" with its quotes, true, 4.5.
      [ASSESSMENT_VALUE, column('a.value')],
    ]),
    metrics: new Map<string, MetricDefinition>([
      ['assessment_count', { aggregations: COUNT_ONLY, dimensions: [ASSESSMENT_NAME, ASSESSMENT_VALUE], value: column('a.assessment_id') }],
      ['assessment_value', { aggregations: DISTRIBUTION, dimensions: [ASSESSMENT_NAME], value: assessmentNumber }],
    ]),
  },
};

/** Distinct aggregations in one request; each is one or two columns of the result. */
const MAX_AGGREGATIONS = 16;

/** An aggregation with the label its values are reported under. */
interface LabelledAggregation extends MetricAggregation {
  label: string;
}

/**
 * Aggregates one metric of the traces, spans or assessments of some experiments, per time bucket
 * and dimension values, as MLflow's `query_trace_metrics` does: the same metrics, aggregations,
 * dimensions, labels and error messages, with groups ordered by bucket then dimensions, and groups
 * whose dimensions or values are all missing left out.
 *
 * One grouped query. Percentiles are exact, with linear interpolation between the two closest
 * values (numpy's default, as MLflow's PostgreSQL and SQLite stores): the database sorts each
 * group's values by a window function and returns the two around the rank, so only one row per
 * group leaves it. The cost is a sort of the rows in range, bounded by the search time limit.
 *
 * Pages (MLflow returns none) are keyset pages on the dimension values: the token holds the last
 * group's, and the next page aggregates only the rows of the groups after it.
 *
 * @example
 * await queryMetricDataPoints(db, dialect, { experimentIds: ['1'], view: 'TRACES', metricName: 'latency',
 *   aggregations: [{ type: 'PERCENTILE', percentileValue: 95 }], dimensions: ['trace_name'], filters: [], maxResults: 1000 });
 */
export async function queryMetricDataPoints(db: Kysely<Database>, dialect: SqlDialect, query: MetricsQuery): Promise<MetricDataPage> {
  const { view, metric, aggregations, dimensions } = checkQuery(query);
  const filters = compileMetricFilters(query.filters, query.view, dialect);

  // The group keys k0, k1, ...: the time bucket first, then the dimensions in the order asked.
  const groups: { name: string; expression: Sql }[] = [];
  if (query.timeIntervalSeconds) {
    const width = sql.lit(query.timeIntervalSeconds * 1000);
    groups.push({ name: TIME_BUCKET_DIMENSION, expression: sql`((${view.timeMs}) / ${width}) * ${width}` });
  }
  for (const d of dimensions) groups.push({ name: d, expression: view.dimensions.get(d)!(dialect) });
  const keys: OrderKey[] = groups.map((g, i) => ({
    id: g.name,
    direction: 'ASC',
    valueType: g.name === TIME_BUCKET_DIMENSION ? 'number' : 'string',
    nullable: false,
    expression: sql.ref(`k${i}`),
  }));
  const digest = searchDigest(
    query.experimentIds,
    JSON.stringify([query.view, query.metricName, aggregations.map((a) => a.label), filters.canonical, query.timeIntervalSeconds, query.startTimeMs, query.endTimeMs]),
    keys,
  );
  const after = query.pageToken && keys.length > 0 ? decodePageToken(query.pageToken, digest, keys) : undefined;

  // The rows: their group keys and value x. The time-limit check comes first (SqlDialect.timeLimitCheck).
  const where: RawBuilder<SqlBool>[] = [
    ...(dialect.timeLimitCheck ? [dialect.timeLimitCheck] : []),
    sql<SqlBool>`t.experiment_id IN (${sql.join(query.experimentIds.map(Number))})`,
    ...(query.startTimeMs !== undefined ? [sql<SqlBool>`t.request_time >= ${query.startTimeMs}`] : []),
    ...(query.endTimeMs !== undefined ? [sql<SqlBool>`t.request_time <= ${query.endTimeMs}`] : []),
    ...(filters.condition ? [filters.condition] : []),
  ];
  const rowColumns = [...groups.map((g, i) => sql`${g.expression} AS ${sql.ref(`k${i}`)}`), sql`${metric.value(dialect)} AS x`];
  let rows: Sql = sql`SELECT ${sql.join(rowColumns)} FROM ${view.from} WHERE ${joinConditions(where, 'AND')}`;
  // A group without a value for a dimension is no data point, as in MLflow.
  const kept = [...keys.map((k) => sql<SqlBool>`${k.expression} IS NOT NULL`), ...(after ? [afterRow(keys, after)] : [])];
  if (kept.length > 0) rows = sql`SELECT * FROM (${rows}) AS metric_row WHERE ${joinConditions(kept, 'AND')}`;

  const groupColumns = keys.map((k) => k.expression);
  const percentiles = aggregations.some((a) => a.type === 'PERCENTILE');
  // For percentiles each row also carries its rank r among its group's values (missing ones
  // last) and the number n of them: the values at ranks just below and above q * (n - 1) bound it.
  const source = percentiles
    ? sql`(SELECT *, ROW_NUMBER() OVER (${partitionBy(groupColumns)} ORDER BY CASE WHEN x IS NULL THEN 1 ELSE 0 END, x) - 1 AS r,
        COUNT(x) OVER (${partitionBy(groupColumns)}) AS n FROM (${rows}) AS metric_row)`
    : sql`(${rows})`;
  const selected = [...groupColumns, ...aggregations.flatMap((a, i) => aggregateColumns(a, i, metric)), ...(percentiles ? [sql`MAX(n) AS n`] : [])];
  const grouping = groupColumns.length > 0 ? sql` GROUP BY ${sql.join(groupColumns)} ORDER BY ${sql.join(groupColumns)}` : sql``;
  const result = await sql<Record<string, unknown>>`SELECT ${sql.join(selected)} FROM ${source} AS grouped_row${grouping} LIMIT ${sql.lit(query.maxResults)}`.execute(db);

  const dataPoints = result.rows.flatMap((row) => dataPointOf(row, keys, aggregations) ?? []);
  const token = keys.length > 0 ? nextPageToken(result.rows, keys, query.maxResults, digest) : undefined;
  return token === undefined ? { dataPoints } : { dataPoints, nextPageToken: token };
}

/** Checks a query as MLflow does, with its messages, in its order. */
function checkQuery(query: MetricsQuery): { view: ViewDefinition; metric: MetricDefinition; aggregations: LabelledAggregation[]; dimensions: string[] } {
  const aggregations = labelAggregations(query.aggregations);
  const view = VIEWS[query.view];
  const metric = view.metrics.get(query.metricName);
  if (!metric) throw invalidParameter(`metric_name must be one of ${pythonList([...view.metrics.keys()])}, got '${query.metricName}'`);
  const invalidTypes = [...new Set(aggregations.map((a) => a.type))].filter((t) => !metric.aggregations.includes(t));
  if (invalidTypes.length > 0) {
    throw invalidParameter(`Found invalid aggregation_type(s): ${pythonList(invalidTypes.sort())}. Supported aggregation types: ${pythonList([...metric.aggregations].sort())}`);
  }
  const dimensions = [...new Set(query.dimensions)];
  const invalidDimensions = dimensions.filter((d) => !metric.dimensions.includes(d));
  if (invalidDimensions.length > 0) {
    throw invalidParameter(`Found invalid dimension(s): ${pythonList(invalidDimensions.sort())}. Supported dimensions: ${pythonList([...metric.dimensions].sort())}`);
  }
  if (query.timeIntervalSeconds && (query.startTimeMs === undefined || query.endTimeMs === undefined)) {
    throw invalidParameter('start_time_ms and end_time_ms are required if time_interval_seconds is set');
  }
  if (query.experimentIds.length > MAX_SEARCH_EXPERIMENTS) {
    throw invalidParameter(`Invalid experiment_ids: ${query.experimentIds.length} given; one query covers at most ${MAX_SEARCH_EXPERIMENTS}.`);
  }
  return { view, metric, aggregations, dimensions };
}

/** A result row as a data point; undefined when none of its aggregations has a value (MLflow drops it). */
function dataPointOf(row: Record<string, unknown>, keys: readonly OrderKey[], aggregations: readonly LabelledAggregation[]): MetricDataPoint | undefined {
  const values: Record<string, number> = {};
  aggregations.forEach((a, i) => {
    const value = a.type === 'PERCENTILE' ? interpolate(row[`lo${i}`], row[`hi${i}`], Number(row.n), a.percentileValue! / 100) : row[`v${i}`];
    if (value !== null && value !== undefined) values[a.label] = Number(value);
  });
  if (Object.keys(values).length === 0) return undefined;
  const dimensions = Object.fromEntries(keys.map((k, i) => [k.id, k.id === TIME_BUCKET_DIMENSION ? pythonUtcIsoformat(Number(row[`k${i}`])) : String(row[`k${i}`])]));
  return { dimensions, values };
}

/**
 * Checks each aggregation as MLflow's `MetricAggregation` does, and labels it as `str()` of it;
 * one asked twice counts once.
 */
function labelAggregations(asked: readonly MetricAggregation[]): LabelledAggregation[] {
  if (asked.length === 0) throw invalidParameter(`Missing value for required parameter 'aggregations'.`);
  const labelled = new Map<string, LabelledAggregation>();
  for (const a of asked) {
    if (a.type === 'PERCENTILE') {
      if (a.percentileValue === undefined) throw invalidParameter('Percentile value is required for PERCENTILE aggregation');
      if (!(a.percentileValue >= 0 && a.percentileValue <= 100)) {
        throw invalidParameter(`Percentile value must be between 0 and 100, got ${pythonFloatRepr(a.percentileValue)}`);
      }
    } else if (a.percentileValue !== undefined) {
      throw invalidParameter(`Percentile value is only allowed for PERCENTILE aggregation type, got ${a.type}`);
    }
    const label = a.type === 'PERCENTILE' ? `P${pythonFloatRepr(a.percentileValue!)}` : a.type;
    labelled.set(label, { ...a, label });
  }
  if (labelled.size > MAX_AGGREGATIONS) throw invalidParameter(`Invalid aggregations: ${labelled.size} different ones asked; at most ${MAX_AGGREGATIONS}.`);
  return [...labelled.values()];
}

/** The result columns of aggregation `i` over the rows' value x: `v<i>`, or `lo<i>` and `hi<i>` for a percentile. */
function aggregateColumns(a: LabelledAggregation, i: number, metric: MetricDefinition): Sql[] {
  const as = (name: string) => sql.ref(`${name}${i}`);
  switch (a.type) {
    case 'COUNT':
      return [metric.countsDistinct ? sql`COUNT(DISTINCT x) AS ${as('v')}` : sql`COUNT(x) AS ${as('v')}`];
    case 'SUM':
    case 'AVG':
    case 'MIN':
    case 'MAX':
      return [sql`${sql.raw(a.type)}(x) AS ${as('v')}`];
    case 'PERCENTILE': {
      // The same double on both databases and in interpolate(), so both sides agree on the ranks.
      const rank = sql`CAST(${a.percentileValue! / 100} AS DOUBLE PRECISION) * (n - 1)`;
      return [sql`MAX(CASE WHEN r <= ${rank} THEN x END) AS ${as('lo')}`, sql`MIN(CASE WHEN r >= ${rank} THEN x END) AS ${as('hi')}`];
    }
  }
}

function partitionBy(columns: readonly Sql[]): Sql {
  return columns.length > 0 ? sql`PARTITION BY ${sql.join(columns)}` : sql``;
}

/** The q-quantile from the values at ranks floor and ceil of q * (n - 1) of n, as numpy's linear method. */
function interpolate(below: unknown, above: unknown, n: number, q: number): number | null {
  if (below === null || below === undefined) return null;
  const low = Number(below);
  const high = above === null || above === undefined ? low : Number(above);
  const rank = q * (n - 1);
  return low + (high - low) * (rank - Math.floor(rank));
}

/** A list of strings as Python prints it, as MLflow's messages show lists. */
function pythonList(items: readonly string[]): string {
  return `[${items.map((s) => (s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`)).join(', ')}]`;
}

/** A time as MLflow writes a bucket: Python's `isoformat()` of a UTC datetime, `2026-11-20T00:00:00+00:00`. */
function pythonUtcIsoformat(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return String(ms);
  const millis = ms - Math.floor(ms / 1000) * 1000;
  return `${date.toISOString().slice(0, 19)}${millis === 0 ? '' : `.${String(millis).padStart(3, '0')}000`}+00:00`;
}
