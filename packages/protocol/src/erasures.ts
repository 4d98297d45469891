/**
 * An erase's receipt, as `POST /api/threadline/users/{id}/erase` and the erasures endpoints answer it: what was erased, when, by
 * whom and how much, without the erased data, nor even the subject's id (only its digest).
 */
export interface ErasureJson {
  erasure_id: string;
  kind: 'user' | 'session';
  /** SHA-256 (hex) of `<kind>:<id>`: whoever holds the id can check which subject the receipt is about. */
  subject_digest: string;
  experiment_ids: string[];
  requested_by: string;
  requested_time_ms: number;
  completed_time_ms: number | null;
  state: 'running' | 'complete';
  /** Rows deleted per kind: traces, spans, trace_metadata, trace_tags, assessments, llm_calls, assessments_given, session_assessments. */
  counts: Record<string, number>;
  /** Hash chain `d = sha256(d + trace_id)` from 64 zeros over the erased trace ids, oldest first. */
  trace_ids_digest: string;
}
