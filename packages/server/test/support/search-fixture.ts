import type { Insertable, Kysely } from 'kysely';
import type { AssessmentsTable, Database, SpansTable, TracesTable } from '../../src/store/schema.js';

/**
 * Test data for the search tests, inserted row by row after `migrateToLatest`.
 *
 * Experiments 1 and 2 hold MLflow's five-trace fixture `store_with_traces` (reference §16.1), so
 * the reference's `[F]` results apply unchanged. Experiment 3 holds five richer traces for the
 * examples the reference gives without a fixture: spans, assessments, prompts, sessions; and
 * feedback on its two sessions as wholes. `user_satisfaction` (true, false, "yes", "no", one
 * overridden on a trace and one on a session) and `session_score` are there for the feedback
 * rollups of sessions and users; trace-filter results do not depend on them.
 */

/** Trace ids of experiment 3, newest first (the default order). */
export const E = {
  /** ts 1763013695600, 3000 ms, OK: `predict_42`, user alice, no session. */
  T4: 'tr-e4',
  /** ts 1700000000300, 2000 ms, OK: `user_logout`, user-123 in session-xyz, a TOOL span. */
  T3: 'tr-e3',
  /** ts 1700000000200, 1000 ms, ERROR: `USER_LOGIN`, alice in session-abc-456. */
  T2: 'tr-e2',
  /** ts 1700000000100, 500 ms, OK: `Generate_summary`, user-123 in session-abc-456. */
  T1: 'tr-0123456789abcdef0123456789abcdef',
  /** ts 1700000000050, still running: `my_function`, no user, no spans. */
  T5: 'tr-e5',
} as const;

interface TraceSpec {
  id: string;
  experiment: number;
  timestampMs: number;
  executionTimeMs: number | null;
  state: string;
  clientRequestId?: string;
  tags?: Record<string, string>;
  metadata?: Record<string, string>;
  spans?: SpanSpec[];
  assessments?: AssessmentSpec[];
}

interface SpanSpec {
  name: string;
  type: string | null;
  status: 'OK' | 'ERROR' | 'UNSET';
  /** Decoded values; stored JSON-encoded as MLflow stores them. */
  attributes?: Record<string, unknown>;
  outputs?: string;
}

interface AssessmentSpec {
  name: string;
  kind: 'feedback' | 'expectation' | 'issue';
  /** Stored as JSON text. */
  value: unknown;
  valid?: boolean;
  /** Assessment metadata; `mlflow.trace.session` makes it session-scoped. */
  metadata?: Record<string, string>;
  /** The position, in the same list, of the assessment this one overrides (which is then `valid: false`). */
  overrides?: number;
}

const FIVE_TRACES: TraceSpec[] = [
  { id: 'tr-0', experiment: 2, timestampMs: 0, executionTimeMs: 6, state: 'OK', tags: { 'mlflow.traceName': 'ddd' }, metadata: { 'mlflow.sourceRun': 'run0' } },
  {
    id: 'tr-1',
    experiment: 2,
    timestampMs: 1,
    executionTimeMs: 2,
    state: 'ERROR',
    tags: { 'mlflow.traceName': 'aaa', fruit: 'apple', color: 'red' },
    metadata: { 'mlflow.sourceRun': 'run1' },
  },
  { id: 'tr-2', experiment: 1, timestampMs: 2, executionTimeMs: 4, state: 'STATE_UNSPECIFIED', tags: { 'mlflow.traceName': 'bbb', fruit: 'apple', color: 'green' } },
  { id: 'tr-3', experiment: 1, timestampMs: 3, executionTimeMs: 10, state: 'OK', tags: { 'mlflow.traceName': 'ccc', fruit: 'orange' } },
  { id: 'tr-4', experiment: 1, timestampMs: 4, executionTimeMs: 10, state: 'OK', tags: { 'mlflow.traceName': 'ddd', color: 'blue' } },
];

const SESSION_ABC = 'session-abc-456';

const RICH_TRACES: TraceSpec[] = [
  {
    id: E.T1,
    experiment: 3,
    timestampMs: 1700000000100,
    executionTimeMs: 500,
    state: 'OK',
    clientRequestId: 'req-abc-1',
    tags: {
      'mlflow.traceName': 'Generate_summary',
      environment: 'us-east-1',
      env: 'production',
      region: 'eu',
      'my key': 'x',
      quote: "it's",
      'mlflow.linkedPrompts': JSON.stringify([{ name: 'qa-agent-system-prompt', version: '4' }]),
    },
    metadata: { 'mlflow.trace.user': 'user-123', 'mlflow.trace.session': SESSION_ABC, version: 'v2.1', 'mlflow.source.name': 'app.py' },
    spans: [
      { name: 'search_web', type: 'RETRIEVER', status: 'ERROR', attributes: { model: 'gpt-4' } },
      { name: 'other', type: 'LLM', status: 'OK', attributes: { model: 'gpt-4o', 'mlflow.llm.model': 'gpt-4o' } },
    ],
    assessments: [
      { name: 'correctness', kind: 'feedback', value: true },
      { name: 'helpfulness', kind: 'feedback', value: 5 },
      { name: 'comment', kind: 'feedback', value: 'very helpful' },
      { name: 'quality', kind: 'feedback', value: 'good' },
      { name: 'user satisfaction', kind: 'feedback', value: 'yes' },
      { name: 'session_quality', kind: 'feedback', value: 'good', metadata: { 'mlflow.trace.session': SESSION_ABC } },
      { name: 'user_satisfaction', kind: 'feedback', value: true },
    ],
  },
  {
    id: E.T2,
    experiment: 3,
    timestampMs: 1700000000200,
    executionTimeMs: 1000,
    state: 'ERROR',
    clientRequestId: 'REQ-ABC-2',
    tags: {
      'mlflow.traceName': 'USER_LOGIN',
      environment: 'eu-west-1',
      env: 'staging',
      region: 'us',
      'my-key': 'x',
      'mlflow.linkedPrompts': JSON.stringify([
        { name: 'qa-agent-system-prompt', version: '3' },
        { name: 'other', version: '4' },
      ]),
    },
    metadata: { 'mlflow.trace.user': 'alice', 'mlflow.trace.session': SESSION_ABC, version: 'v2x3', 'mlflow.modelId': 'm-1' },
    spans: [
      { name: 'search_web', type: 'RETRIEVER', status: 'OK', attributes: { model: 'claude' }, outputs: 'Authentication Error occurred' },
      { name: 'llm.generate', type: 'LLM', status: 'OK', attributes: { 'mlflow.llm.model': 'gpt-3.5' } },
    ],
    assessments: [
      { name: 'correctness', kind: 'feedback', value: false },
      { name: 'helpfulness', kind: 'feedback', value: 3 },
      { name: 'quality', kind: 'feedback', value: 'bad', valid: false },
      { name: 'user_satisfaction', kind: 'feedback', value: 'no', valid: false },
      { name: 'user_satisfaction', kind: 'feedback', value: ' Yes', overrides: 3 },
    ],
  },
  {
    id: E.T3,
    experiment: 3,
    timestampMs: 1700000000300,
    executionTimeMs: 2000,
    state: 'OK',
    tags: {
      'mlflow.traceName': 'user_logout',
      environment: 'us-west-2',
      env: 'production',
      'mlflow.linkedPrompts': `[{"version": 4, "name": "qa-agent-system-prompt"}]`,
    },
    metadata: { 'mlflow.trace.user': 'user-123', 'mlflow.trace.session': 'session-xyz', version: 'v1.0', 'mlflow.source.name': 'app.py' },
    spans: [{ name: 'tool_call', type: 'TOOL', status: 'OK', attributes: { n: 5 }, outputs: 'Machine Learning is fun' }],
    assessments: [
      { name: 'helpfulness', kind: 'feedback', value: 4.5 },
      { name: 'comment', kind: 'feedback', value: 'not helpful at all' },
      { name: 'iss-123', kind: 'issue', value: null },
      { name: 'user_satisfaction', kind: 'feedback', value: false },
    ],
  },
  {
    id: E.T4,
    experiment: 3,
    timestampMs: 1763013695600,
    executionTimeMs: 3000,
    state: 'OK',
    clientRequestId: 'other',
    tags: { 'mlflow.traceName': 'predict_42', 'mlflow.linkedPrompts': JSON.stringify([{ name: 'qa-agent-system-prompt', version: '41' }]) },
    metadata: { 'mlflow.trace.user': 'alice' },
    spans: [{ name: 'llm.chat', type: 'CHAT_MODEL', status: 'OK', attributes: { model: 'gpt-4', temperature: 0.5 } }],
    assessments: [
      { name: 'output_format', kind: 'expectation', value: 'XML' },
      { name: 'helpfulness', kind: 'feedback', value: '5' },
      { name: 'user_satisfaction', kind: 'feedback', value: 'no' },
    ],
  },
  { id: E.T5, experiment: 3, timestampMs: 1700000000050, executionTimeMs: null, state: 'IN_PROGRESS', tags: { 'mlflow.traceName': 'my_function' } },
];

/** Assessments of experiment 3's sessions as wholes, as the session assessments API stores them. */
const SESSION_ASSESSMENTS: Record<string, AssessmentSpec[]> = {
  [SESSION_ABC]: [
    { name: 'user_satisfaction', kind: 'feedback', value: false },
    { name: 'session_score', kind: 'feedback', value: 2 },
    { name: 'session_goal', kind: 'expectation', value: 'resolved' },
  ],
  'session-xyz': [
    { name: 'session_score', kind: 'feedback', value: 4.5 },
    { name: 'user_satisfaction', kind: 'feedback', value: 'no', valid: false },
    { name: 'user_satisfaction', kind: 'feedback', value: 'yes', overrides: 1 },
  ],
};

/**
 * Inserts experiments 1 to 3 and the traces above.
 *
 * @example
 * await loadSearchFixture(db);
 */
export async function loadSearchFixture(db: Kysely<Database>): Promise<void> {
  await db
    .insertInto('experiments')
    .values([1, 2, 3].map((id) => ({ experiment_id: id, name: `exp${id}`, artifact_location: `mlflow-artifacts:/${id}`, lifecycle_stage: 'active', creation_time: 0, last_update_time: 0 })))
    .execute();
  for (const trace of [...FIVE_TRACES, ...RICH_TRACES]) await insertTrace(db, trace);
  for (const [sessionId, specs] of Object.entries(SESSION_ASSESSMENTS)) {
    await db.insertInto('assessments').values(assessmentRows({ experimentId: 3, sessionId }, specs)).execute();
  }
}

async function insertTrace(db: Kysely<Database>, spec: TraceSpec): Promise<void> {
  const tags = spec.tags ?? {};
  const metadata = spec.metadata ?? {};
  const row: Insertable<TracesTable> = {
    trace_id: spec.id,
    experiment_id: spec.experiment,
    client_request_id: spec.clientRequestId ?? null,
    request_time: spec.timestampMs,
    execution_duration: spec.executionTimeMs,
    state: spec.state,
    request_preview: null,
    response_preview: null,
    name: tags['mlflow.traceName'] ?? null,
    user_id: metadata['mlflow.trace.user'] ?? null,
    session_id: metadata['mlflow.trace.session'] ?? null,
    input_tokens: null,
    output_tokens: null,
    total_tokens: null,
    span_count: spec.spans?.length ?? 0,
  };
  await db.insertInto('traces').values(row).execute();
  // The database numbers the trace (migration 015); its metadata, tags and spans are keyed by that number.
  const { trace_key: traceKey } = await db.selectFrom('traces').select('trace_key').where('trace_id', '=', spec.id).executeTakeFirstOrThrow();
  const keyValues = (record: Record<string, string>) => Object.entries(record).map(([key, value]) => ({ trace_key: traceKey, key, value }));
  if (Object.keys(tags).length > 0) await db.insertInto('trace_tags').values(keyValues(tags)).execute();
  if (Object.keys(metadata).length > 0) await db.insertInto('trace_metadata').values(keyValues(metadata)).execute();

  const spans: Insertable<SpansTable>[] = (spec.spans ?? []).map((span, i) => {
    const spanId = `${spec.id.slice(-4)}${String(i).padStart(12, '0')}`;
    const attributes: Record<string, string> = { 'mlflow.spanType': JSON.stringify(span.type) };
    for (const [key, value] of Object.entries(span.attributes ?? {})) attributes[key] = JSON.stringify(value);
    if (span.outputs !== undefined) attributes['mlflow.spanOutputs'] = JSON.stringify(span.outputs);
    const startNs = String(BigInt(spec.timestampMs) * 1_000_000n + BigInt(i));
    const content = { trace_id: spec.id, span_id: spanId, parent_span_id: null, name: span.name, start_time_unix_nano: startNs, status: { code: span.status }, attributes, events: [] };
    return { trace_key: traceKey, span_id: spanId, parent_span_id: null, name: span.name, type: span.type, status: span.status, start_ns: startNs, end_ns: null, content: JSON.stringify(content) };
  });
  if (spans.length > 0) await db.insertInto('spans').values(spans).execute();

  const assessments = assessmentRows({ traceId: spec.id }, spec.assessments ?? []);
  if (assessments.length > 0) await db.insertInto('assessments').values(assessments).execute();
}

/** The rows of one trace's or one session's assessments; ids by position: `a-<trace or session>-<i>`. */
function assessmentRows(owner: { traceId: string } | { experimentId: number; sessionId: string }, specs: readonly AssessmentSpec[]): Insertable<AssessmentsTable>[] {
  const prefix = 'traceId' in owner ? `a-${owner.traceId}` : `a-${owner.sessionId}`;
  const columns = 'traceId' in owner ? { trace_id: owner.traceId } : { trace_id: null, experiment_id: owner.experimentId, session_id: owner.sessionId };
  const metadata = (a: AssessmentSpec) => ('traceId' in owner ? (a.metadata ?? {}) : { 'mlflow.trace.session': owner.sessionId, ...a.metadata });
  return specs.map((a, i) => ({
    assessment_id: `${prefix}-${i}`,
    ...columns,
    span_id: null,
    name: a.name,
    kind: a.kind,
    value: a.value === null ? null : JSON.stringify(a.value),
    content: JSON.stringify({ assessment_name: a.name, value: a.value, metadata: metadata(a), ...(a.overrides !== undefined ? { overrides: `${prefix}-${a.overrides}` } : {}) }),
    valid: a.valid === false ? 0 : 1,
    create_time: 0,
    last_update_time: 0,
  }));
}
