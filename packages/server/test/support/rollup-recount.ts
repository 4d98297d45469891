import type { Kysely } from 'kysely';
import { storedAssessmentOf } from '../../src/store/assessment-rows.js';
import { feedbackCounts, feedbackHourKey } from '../../src/store/feedback-rollups.js';
import type { Database } from '../../src/store/schema.js';
import { hourOf, latencyBin } from '../../src/store/trace-metrics.js';

/** The four rollups of one experiment, in a form that compares with `toEqual`. */
export interface RollupSnapshot {
  sessions: Record<string, unknown>[];
  users: Record<string, unknown>[];
  sessionUsers: string[];
  /** Sums over shards per (hour, latency bin), all-zero rows left out. */
  hours: Record<string, unknown>[];
  /** `feedback_rollups` rows, all-zero rows left out, by scope, key and name. */
  feedback: Record<string, unknown>[];
}

const FEEDBACK_COLUMNS = ['count', 'true_count', 'false_count', 'numeric_count', 'numeric_sum'] as const;

const byKey = (key: string) => (a: Record<string, unknown>, b: Record<string, unknown>) => (String(a[key]) < String(b[key]) ? -1 : String(a[key]) > String(b[key]) ? 1 : 0);

/**
 * The rollups as stored, numbers as numbers (both databases hand bigint columns back as strings
 * or bigints).
 */
export async function storedRollups(db: Kysely<Database>, experimentId: number): Promise<RollupSnapshot> {
  const numbers = (row: Record<string, unknown>, text: readonly string[]) =>
    Object.fromEntries(Object.entries(row).filter(([k]) => k !== 'experiment_id').map(([k, v]) => [k, text.includes(k) || v === null ? v : Number(v)]));
  const sessions = (await db.selectFrom('sessions').selectAll().where('experiment_id', '=', experimentId).execute())
    .map((r) => numbers(r, ['session_id', 'first_trace_id', 'first_request_preview', 'last_trace_id', 'last_response_preview']))
    .sort(byKey('session_id'));
  const users = (await db.selectFrom('users').selectAll().where('experiment_id', '=', experimentId).execute()).map((r) => numbers(r, ['user_id'])).sort(byKey('user_id'));
  const sessionUsers = (await db.selectFrom('session_users').selectAll().where('experiment_id', '=', experimentId).execute()).map((r) => `${r.session_id} ${r.user_id}`).sort();
  const hours = new Map<string, Record<string, number>>();
  for (const r of await db.selectFrom('trace_hours').selectAll().where('experiment_id', '=', experimentId).execute()) {
    const key = `${Number(r.hour_start)}:${Number(r.latency_bin)}`;
    const sum = hours.get(key) ?? { hour_start: Number(r.hour_start), latency_bin: Number(r.latency_bin), trace_count: 0, error_count: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0 };
    for (const c of ['trace_count', 'error_count', 'input_tokens', 'output_tokens', 'total_tokens'] as const) sum[c]! += Number(r[c]);
    hours.set(key, sum);
  }
  const feedback = (await db.selectFrom('feedback_rollups').selectAll().where('experiment_id', '=', experimentId).execute()).map((r) => ({
    scope: r.scope,
    key: r.key,
    name: r.name,
    ...Object.fromEntries(FEEDBACK_COLUMNS.map((c) => [c, Number(r[c])])),
  }));
  return { sessions, users, sessionUsers, hours: sortedHours([...hours.values()]), feedback: sortedFeedback(feedback) };
}

/**
 * The rollups the experiment's traces imply, computed here the slow and obvious way from every
 * trace row: what `storedRollups` must equal however the writes interleaved.
 */
export async function recountedRollups(db: Kysely<Database>, experimentId: number): Promise<RollupSnapshot> {
  const traces = (await db.selectFrom('traces').selectAll().where('experiment_id', '=', experimentId).execute()).map((t) => ({
    ...t,
    request_time: Number(t.request_time),
    execution_duration: t.execution_duration === null ? null : Number(t.execution_duration),
    input: Number(t.input_tokens ?? 0),
    output: Number(t.output_tokens ?? 0),
    total: Number(t.total_tokens ?? 0),
  }));
  type Trace = (typeof traces)[number];
  const before = (a: Trace, b: Trace) => a.request_time < b.request_time || (a.request_time === b.request_time && a.trace_id < b.trace_id);
  const group = (key: 'session_id' | 'user_id') => {
    const out = new Map<string, Trace[]>();
    for (const t of traces) if (t[key] !== null) out.set(t[key]!, [...(out.get(t[key]!) ?? []), t]);
    return [...out];
  };
  const common = (of: Trace[]) => ({
    first_time: Math.min(...of.map((t) => t.request_time)),
    last_time: Math.max(...of.map((t) => t.request_time)),
    trace_count: of.length,
    error_count: of.filter((t) => t.state === 'ERROR').length,
    input_tokens: of.reduce((n, t) => n + t.input, 0),
    output_tokens: of.reduce((n, t) => n + t.output, 0),
    total_tokens: of.reduce((n, t) => n + t.total, 0),
  });
  const sessions = group('session_id')
    .map(([session_id, of]) => {
      const first = of.reduce((a, b) => (before(b, a) ? b : a));
      const last = of.reduce((a, b) => (before(a, b) ? b : a));
      return {
        session_id,
        ...common(of),
        last_end_time: Math.max(...of.map((t) => t.request_time + (t.execution_duration ?? 0))),
        user_count: new Set(of.flatMap((t) => t.user_id ?? [])).size,
        first_trace_id: first.trace_id,
        first_request_preview: first.request_preview,
        last_trace_id: last.trace_id,
        last_response_preview: last.response_preview,
      };
    })
    .sort(byKey('session_id'));
  const users = group('user_id')
    .map(([user_id, of]) => ({ user_id, ...common(of), session_count: new Set(of.flatMap((t) => t.session_id ?? [])).size }))
    .sort(byKey('user_id'));
  const sessionUsers = [...new Set(traces.flatMap((t) => (t.session_id !== null && t.user_id !== null ? [`${t.session_id} ${t.user_id}`] : [])))].sort();
  const hours = new Map<string, Record<string, number>>();
  for (const t of traces) {
    const row = { hour_start: hourOf(t.request_time), latency_bin: latencyBin(t.execution_duration) };
    const key = `${row.hour_start}:${row.latency_bin}`;
    const sum = hours.get(key) ?? { ...row, trace_count: 0, error_count: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0 };
    sum.trace_count! += 1;
    sum.error_count! += t.state === 'ERROR' ? 1 : 0;
    sum.input_tokens! += t.input;
    sum.output_tokens! += t.output;
    sum.total_tokens! += t.total;
    hours.set(key, sum);
  }
  // Feedback: each valid one where it counts (feedback-rollups.ts), from the assessments themselves.
  const feedback = new Map<string, Record<string, unknown> & Record<(typeof FEEDBACK_COLUMNS)[number], number>>();
  const count = (scope: string, key: string, name: string, counts: Record<(typeof FEEDBACK_COLUMNS)[number], number>) => {
    const id = `${scope}\u0000${key}\u0000${name}`;
    const row = feedback.get(id) ?? { scope, key, name, count: 0, true_count: 0, false_count: 0, numeric_count: 0, numeric_sum: 0 };
    for (const c of FEEDBACK_COLUMNS) row[c] += counts[c];
    feedback.set(id, row);
  };
  const byId = new Map(traces.map((t) => [t.trace_id, t]));
  const usersOfSession = (sessionId: string) => sessionUsers.filter((l) => l.startsWith(`${sessionId} `)).map((l) => l.slice(sessionId.length + 1));
  for (const row of await db.selectFrom('assessments').selectAll().execute()) {
    const a = storedAssessmentOf(row);
    const counts = feedbackCounts(a);
    if (!counts) continue;
    const trace = row.trace_id === null ? undefined : byId.get(row.trace_id);
    if (trace) {
      if (trace.session_id !== null) count('session', trace.session_id, a.name, counts);
      if (trace.user_id !== null) count('user', trace.user_id, a.name, counts);
    } else if (row.trace_id === null && Number(row.experiment_id) === experimentId) {
      count('session', row.session_id!, a.name, counts);
      for (const userId of usersOfSession(row.session_id!)) count('user', userId, a.name, counts);
    } else {
      continue;
    }
    count('hour', feedbackHourKey(a.createTimeMs), a.name, counts);
  }
  return { sessions, users, sessionUsers, hours: sortedHours([...hours.values()]), feedback: sortedFeedback([...feedback.values()]) };
}

function sortedFeedback(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  const id = (r: Record<string, unknown>) => `${String(r.scope)}\u0000${String(r.key)}\u0000${String(r.name)}`;
  return rows.filter((r) => FEEDBACK_COLUMNS.some((c) => r[c] !== 0)).sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}

function sortedHours(rows: Record<string, number>[]): Record<string, unknown>[] {
  return rows
    .filter((r) => r.trace_count !== 0 || r.error_count !== 0 || r.input_tokens !== 0 || r.output_tokens !== 0 || r.total_tokens !== 0)
    .sort((a, b) => a.hour_start! - b.hour_start! || a.latency_bin! - b.latency_bin!);
}
