import { TraceMetadataKey } from '@threadline/protocol';
import { sql, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';
import { pythonJsonText } from '../json.js';
import type { AssessmentErrorInfo, AssessmentKind, StoredAssessment } from '../trace-model.js';
import type { AssessmentsTable, Database } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';

type Db = Kysely<Database> | Transaction<Database>;
export type AssessmentRow = Selectable<AssessmentsTable>;

/**
 * How an assessment sits in its row. Columns hold what is searched or changed on its own: name,
 * kind, validity, times, and `value` as the JSON text MLflow compares filters against
 * (`pythonJsonText`). `content` holds the rest as JSON: the value exactly as given, error,
 * source, rationale, metadata (searched at `metadata.<key>` for session scope) and overrides.
 */
interface AssessmentContent {
  /** Absent only from rows written by hand (test fixtures); read as an unspecified source. */
  source?: { source_type: string; source_id: string };
  value?: unknown;
  error?: { error_code?: string; error_message?: string; stack_trace?: string };
  rationale?: string;
  metadata?: Record<string, string>;
  overrides?: string;
}

/** The row that stores `assessment`. */
export function assessmentRow(a: StoredAssessment): Insertable<AssessmentsTable> {
  const content: AssessmentContent = { source: { source_type: a.source.sourceType, source_id: a.source.sourceId } };
  if (a.value !== null && a.value !== undefined) content.value = a.value;
  if (a.error) {
    content.error = {
      ...(a.error.errorCode !== null ? { error_code: a.error.errorCode } : {}),
      ...(a.error.errorMessage !== null ? { error_message: a.error.errorMessage } : {}),
      ...(a.error.stackTrace !== null ? { stack_trace: a.error.stackTrace } : {}),
    };
  }
  if (a.rationale !== null) content.rationale = a.rationale;
  if (Object.keys(a.metadata).length > 0) content.metadata = a.metadata;
  if (a.overrides !== null) content.overrides = a.overrides;
  return {
    assessment_id: a.assessmentId,
    trace_id: a.traceId,
    experiment_id: a.session === null ? null : Number(a.session.experimentId),
    session_id: a.session?.sessionId ?? null,
    span_id: a.spanId,
    name: a.name,
    kind: a.kind,
    value: a.value === null || a.value === undefined ? null : pythonJsonText(a.value),
    content: JSON.stringify(content),
    valid: a.valid ? 1 : 0,
    create_time: a.createTimeMs,
    last_update_time: a.lastUpdateTimeMs,
  };
}

export function storedAssessmentOf(row: AssessmentRow): StoredAssessment {
  const content = JSON.parse(row.content) as AssessmentContent;
  const error: AssessmentErrorInfo | null = content.error
    ? { errorCode: content.error.error_code ?? null, errorMessage: content.error.error_message ?? null, stackTrace: content.error.stack_trace ?? null }
    : null;
  return {
    assessmentId: row.assessment_id,
    traceId: row.trace_id,
    session: row.trace_id === null && row.session_id !== null ? { experimentId: String(row.experiment_id), sessionId: row.session_id } : null,
    name: row.name,
    kind: row.kind as AssessmentKind,
    value: content.value ?? null,
    error,
    spanId: row.span_id,
    source: { sourceType: content.source?.source_type ?? 'SOURCE_TYPE_UNSPECIFIED', sourceId: content.source?.source_id ?? 'default' },
    rationale: content.rationale ?? null,
    metadata: content.metadata ?? {},
    overrides: content.overrides ?? null,
    valid: Number(row.valid) === 1,
    createTimeMs: Number(row.create_time),
    lastUpdateTimeMs: Number(row.last_update_time),
  };
}

/** The feedback and expectations of the given traces, oldest first; issues are not served. */
export async function loadAssessments(db: Db, traceIds: readonly string[]): Promise<Map<string, StoredAssessment[]>> {
  const out = new Map<string, StoredAssessment[]>();
  if (traceIds.length === 0) return out;
  const rows = await db
    .selectFrom('assessments')
    .selectAll()
    .where('trace_id', 'in', [...traceIds])
    .where('kind', 'in', ['feedback', 'expectation'])
    .orderBy('create_time', 'asc')
    .orderBy('assessment_id', 'asc')
    .execute();
  for (const row of rows) {
    let list = out.get(row.trace_id!);
    if (!list) out.set(row.trace_id!, (list = []));
    list.push(storedAssessmentOf(row));
  }
  return out;
}

/**
 * A session's assessments, oldest first: its own (stored on the session), then MLflow's
 * convention, assessments logged on one of its traces with metadata `mlflow.trace.session` naming
 * it, which are the session's too. Served through the (experiment, session) indexes.
 */
export async function loadSessionAssessments(db: Db, dialect: SqlDialect, experimentId: number, sessionId: string): Promise<StoredAssessment[]> {
  const own = db
    .selectFrom('assessments')
    .selectAll()
    .where('experiment_id', '=', experimentId)
    .where('session_id', '=', sessionId)
    .where('trace_id', 'is', null);
  const onTraces = db
    .selectFrom('assessments as a')
    .innerJoin('traces as t', 't.trace_id', 'a.trace_id')
    .selectAll('a')
    .where('t.experiment_id', '=', experimentId)
    .where('t.session_id', '=', sessionId)
    .where(sql<boolean>`${dialect.jsonTextAt(sql.ref('a.content'), ['metadata', TraceMetadataKey.SESSION])} = ${sessionId}`);
  const rows = [...(await own.execute()), ...(await onTraces.execute())].filter((r) => r.kind === 'feedback' || r.kind === 'expectation');
  return rows
    .map(storedAssessmentOf)
    .sort((a, b) => a.createTimeMs - b.createTimeMs || (a.assessmentId < b.assessmentId ? -1 : a.assessmentId > b.assessmentId ? 1 : 0));
}
