import type { Generated } from 'kysely';

/**
 * The tables of the store (DESIGN.md §4), as Kysely sees them. Times are milliseconds since the
 * epoch unless the column says `_ns`; nanosecond columns hold bigint-sized integers and are read
 * as strings so that no digit is lost.
 */
export interface Database {
  experiments: ExperimentsTable;
  experiment_tags: KeyValueTable & { experiment_id: number };
  traces: TracesTable;
  /** Keyed by the trace's `trace_key` (migration 015). */
  trace_metadata: KeyValueTable & { trace_key: number };
  trace_tags: KeyValueTable & { trace_key: number };
  spans: SpansTable;
  assessments: AssessmentsTable;
  sessions: SessionsTable;
  users: UsersTable;
  session_users: SessionUsersTable;
  trace_hours: TraceHoursTable;
  feedback_rollups: FeedbackRollupsTable;
  llm_calls: LlmCallsTable;
  model_hours: ModelHoursTable;
  model_prices: ModelPricesTable;
  erasures: ErasuresTable;
  leases: LeasesTable;
  accounts: AccountsTable;
  api_tokens: ApiTokensTable;
  ui_sessions: UiSessionsTable;
  experiment_permissions: ExperimentPermissionsTable;
  audit_events: AuditEventsTable;
  experiment_redaction_rules: ExperimentRedactionRulesTable;
  /** Migration 010, keyed by the trace's `trace_key` since 017; each database adds its own index columns (sql-dialect.ts traceText). */
  trace_text_docs: { trace_key: number };
  user_hours: KeyHoursTable & { user_id: string };
  session_hours: KeyHoursTable & { session_id: string };
}

/** A person who signs in to Threadline (the `users` table is the traced app's end users). */
export interface AccountsTable {
  account_id: Generated<number>;
  username: string;
  /** scrypt hash (auth/passwords.ts); null for an account that signs in with tokens only. */
  password_hash: string | null;
  is_admin: number;
  created_time: number;
}

export interface ApiTokensTable {
  /** Public id, shown in lists and used to revoke; the secret is never stored. */
  token_id: string;
  account_id: number;
  name: string;
  /** SHA-256 of the secret token, hex. */
  token_hash: string;
  created_time: number;
  last_used_time: number | null;
  revoked_time: number | null;
}

export interface UiSessionsTable {
  /** SHA-256 of the session cookie's value, hex. */
  session_hash: string;
  account_id: number;
  csrf_token: string;
  created_time: number;
  expires_time: number;
}

export interface ExperimentPermissionsTable {
  experiment_id: number;
  account_id: number;
  permission: string;
}

export interface AuditEventsTable {
  event_id: Generated<number>;
  time: number;
  /** Username, or `anonymous` / `system`. */
  actor: string;
  action: string;
  target: string;
  /** JSON object. */
  details: string;
}

interface KeyValueTable {
  key: string;
  value: string;
}

export interface ExperimentsTable {
  experiment_id: Generated<number>;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  creation_time: number;
  last_update_time: number;
}

export interface TracesTable {
  trace_id: string;
  /** Numbers traces in the order they arrived; their metadata and tags are keyed by it (migration 015). */
  trace_key: Generated<number>;
  experiment_id: number;
  client_request_id: string | null;
  request_time: number;
  execution_duration: number | null;
  state: string;
  request_preview: string | null;
  response_preview: string | null;
  /** The root span's name, mirrored from tag `mlflow.traceName` when it is set. */
  name: string | null;
  /** Metadata `mlflow.trace.user` and `mlflow.trace.session`, denormalised for indexed search. */
  user_id: string | null;
  session_id: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  total_tokens: number | null;
  span_count: number;
  /** Nano-dollars (1e-9 USD) of the trace's priced LLM calls; null while it has none (006-cost). */
  cost_nanos: number | null;
  unpriced_calls: Generated<number>;
}

/** Keyed by the trace's `trace_key` and the span's id (migration 016). */
export interface SpansTable {
  trace_key: number;
  /** 16 lowercase hex digits. */
  span_id: string;
  parent_span_id: string | null;
  name: string;
  type: string | null;
  /** `OK`, `ERROR` or `UNSET`. */
  status: string;
  start_ns: string | bigint;
  end_ns: string | bigint | null;
  /** The span as JSON, attributes JSON-encoded (MLflow's stored form). */
  content: string;
  /** SQLite only (migration 014): the text index's document holding this span's words, if any. */
  text_doc?: number | null;
}

/**
 * Assessments of a trace (`trace_id`), or of a whole session (`trace_id` null, the session named
 * by `experiment_id` and `session_id`, which are null on a trace's assessments).
 */
export interface AssessmentsTable {
  assessment_id: string;
  trace_id: string | null;
  experiment_id: number | null;
  session_id: string | null;
  span_id: string | null;
  name: string;
  /** `feedback`, `expectation` or `issue`. */
  kind: string;
  /** The assessment's value as JSON text. */
  value: string | null;
  /** The whole assessment as JSON. */
  content: string;
  valid: number;
  create_time: number;
  last_update_time: number;
}

export interface SessionsTable {
  experiment_id: number;
  session_id: string;
  first_time: number;
  last_time: number;
  /** Largest request_time + execution_duration: when the last turn ended. */
  last_end_time: number;
  trace_count: number;
  error_count: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  user_count: number;
  first_trace_id: string;
  first_request_preview: string | null;
  last_trace_id: string;
  last_response_preview: string | null;
  /** Nano-dollars, the sum of the traces' `cost_nanos`. */
  cost_nanos: number;
}

export interface UsersTable {
  experiment_id: number;
  user_id: string;
  first_time: number;
  last_time: number;
  trace_count: number;
  session_count: number;
  error_count: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  /** Nano-dollars, the sum of the traces' `cost_nanos`. */
  cost_nanos: number;
}

export interface SessionUsersTable {
  experiment_id: number;
  session_id: string;
  user_id: string;
}

/**
 * Traces per (experiment, hour, latency bin): counts and sums the overview charts read instead of
 * scanning traces. Kept in the same transaction as the trace. Each key is split over a few
 * `shard` rows so that concurrent writers of one busy hour on PostgreSQL do not all wait on one
 * row lock; only sums over shards mean anything.
 */
export interface TraceHoursTable {
  experiment_id: number;
  /** Start of the hour, ms since the epoch. */
  hour_start: number;
  /** Index into the latency histogram's bounds (trace-metrics.ts); -1: no duration. */
  latency_bin: number;
  shard: number;
  trace_count: number;
  error_count: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  /** Nano-dollars, the sum of the traces' `cost_nanos`. */
  cost_nanos: number;
}

/**
 * Valid feedback per (experiment, scope, key, name), kept by feedback-rollups.ts in the same
 * transaction as the assessment or trace write: `scope` `session` (key: session id), `user`
 * (key: user id) or `hour` (key: the hour the feedback was created, ms, zero-padded to 15 digits
 * so that text order is time order). Rows whose counts all went back to 0 stay, and mean nothing.
 */
export interface FeedbackRollupsTable {
  experiment_id: number;
  scope: string;
  key: string;
  name: string;
  /** Valid feedback of that name, whatever its value (an error without a value included). */
  count: number;
  /** Values `true` or "yes" (any case), and `false` or "no". */
  true_count: number;
  false_count: number;
  /** Numeric values, and their sum (the mean is numeric_sum / numeric_count). */
  numeric_count: number;
  numeric_sum: number;
}

/**
 * One span that made a model call, as priced (006-cost, store/cost-writes.ts); keyed by the
 * trace's `trace_key` and the span's id (migration 016).
 */
export interface LlmCallsTable {
  trace_key: number;
  span_id: string;
  experiment_id: number;
  /** The hour the span started: spans are write-once, so a call never changes hour. */
  hour_start: number;
  /** The model as the span named it; `(unknown)` when it named none. */
  model: string;
  provider: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  explicit_cost_nanos: number | null;
  cost_nanos: number | null;
  input_cost_nanos: number | null;
  output_cost_nanos: number | null;
  /** `span` (the span's own), `custom` (an operator's price), `table` (the bundled table), or null: unpriced. */
  cost_source: string | null;
  /** 0 when a descendant span is also a call (this one's usage is their aggregate). */
  counted: number;
}

/** Per (experiment, hour, model) counted calls: the overview's cost by model. */
export interface ModelHoursTable {
  experiment_id: number;
  hour_start: number;
  model: string;
  calls: number;
  unpriced_calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_nanos: number;
}

/** A price an operator set; wins over the bundled table for calls priced after it was set. */
export interface ModelPricesTable {
  model: string;
  /** USD per million tokens. */
  input_per_mtok: number;
  output_per_mtok: number;
  cache_read_per_mtok: number | null;
  cache_write_per_mtok: number | null;
  updated_time: number;
  updated_by: string;
}

/** The receipt of an erase of a user's or a session's data (007-erasures, store/erasures.ts). */
export interface ErasuresTable {
  erasure_id: string;
  kind: string;
  /** The erased user or session id while the erase runs; null once it is complete. */
  subject: string | null;
  subject_digest: string;
  experiment_ids: string;
  requested_by: string;
  requested_time: number;
  completed_time: number | null;
  state: string;
  lease_until: number;
  counts: string;
  trace_ids_digest: string;
}

/** Who does a recurring job for now (008-leases, store/leases.ts). */
export interface LeasesTable {
  name: string;
  holder: string;
  /** ms since the epoch: after it, anyone may take the lease. */
  until: number;
}

/** An experiment's own redaction rules (009-redaction-rules). */
export interface ExperimentRedactionRulesTable {
  experiment_id: number;
  /** Built-in detector names, comma-separated. */
  detectors: string;
  /** JSON list of `{name, pattern}`. */
  patterns: string;
  updated_time: number;
  updated_by: string;
}

/** `user_hours` / `session_hours` (migration 011, key-hours.ts): one user's or session's traces that started in one hour. */
export interface KeyHoursTable {
  experiment_id: number;
  hour_start: number;
  trace_count: number;
  error_count: number;
  total_tokens: number;
  /** Nano-dollars. */
  cost_nanos: number;
}
