import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ExperimentJson } from '@threadline/protocol';
import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { dateTime, num } from '../format';
import { experimentQuery, experimentsQuery } from '../queries';
import { useManagesExperiment } from '../session';
import { ErrorNote } from './bits';

/** The experiment tag that sets how long its traces are kept: a positive whole number of days. */
export const RETENTION_TAG = 'threadline.retention_days';
const DAY_MS = 86_400_000;
/** A bound on what the form takes: beyond it, "keep forever" says the same thing. */
const MAX_DAYS = 36_500;

/** What the tag says: none (kept forever), a number of days, or a value that is not one (shown as it is). */
export type Retention = { kind: 'forever' } | { kind: 'days'; days: number } | { kind: 'invalid'; value: string };

export function retentionOf(experiment: ExperimentJson): Retention {
  const value = experiment.tags?.find((t) => t.key === RETENTION_TAG)?.value;
  if (value === undefined) return { kind: 'forever' };
  const days = parseDays(value);
  return days === null ? { kind: 'invalid', value } : { kind: 'days', days };
}

export function retentionLabel(r: Retention): string {
  if (r.kind === 'forever') return 'Keep forever';
  if (r.kind === 'days') return `${num(r.days)} day${r.days === 1 ? '' : 's'}`;
  return `Not a number of days: '${r.value}'`;
}

/** A positive whole number of days, as typed (digits only: "7.5", "1e3" and "-1" are not). */
function parseDays(text: string): number | null {
  if (!/^\d+$/.test(text.trim())) return null;
  const days = Number(text.trim());
  return days >= 1 && days <= MAX_DAYS ? days : null;
}

/**
 * How long the experiment keeps its traces: shown to every reader; set or removed by those who
 * manage it, after a warning that says how many traces are past that age today (from the traces
 * metrics, one bucket from the epoch to the cutoff).
 */
export function RetentionPanel({ experimentId }: { experimentId: string }) {
  const client = useQueryClient();
  const experiment = useQuery(experimentQuery(experimentId));
  const manages = useManagesExperiment(experimentId);
  const current = experiment.data ? retentionOf(experiment.data) : undefined;
  const [typed, setTyped] = useState<string | null>(null);
  // Until edited, the form holds the current setting.
  const text = typed ?? (current?.kind === 'days' ? String(current.days) : '');
  const days = parseDays(text);
  const changed = () => {
    setTyped(null);
    void client.invalidateQueries({ queryKey: experimentQuery(experimentId).queryKey });
    void client.invalidateQueries({ queryKey: experimentsQuery.queryKey });
  };
  const set = useMutation({ mutationFn: (d: number) => api.setExperimentTag(experimentId, RETENTION_TAG, String(d)), onSuccess: changed });
  const remove = useMutation({ mutationFn: () => api.deleteExperimentTag(experimentId, RETENTION_TAG), onSuccess: changed });
  const unchanged = current?.kind === 'days' && current.days === days;
  const older = useQuery({
    queryKey: ['metrics', experimentId, 'older-than-days', days],
    queryFn: async ({ signal }) => {
      const cutoff = Date.now() - days! * DAY_MS;
      const metrics = await api.metrics({ experiment_id: experimentId, start_time_ms: 0, end_time_ms: cutoff, bucket_ms: cutoff }, signal);
      return { cutoff, traces: metrics.buckets.reduce((n, b) => n + b.traces, 0) };
    },
    enabled: manages && days !== null && !unchanged,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (days !== null) set.mutate(days);
  };

  return (
    <div className="retention" data-testid="retention">
      <p data-testid="retention-current">
        {current === undefined ? (
          <span className="muted">Loading…</span>
        ) : current.kind === 'forever' ? (
          <>
            <strong>Keep forever.</strong> No trace is deleted for its age.
          </>
        ) : current.kind === 'days' ? (
          <>
            <strong>{retentionLabel(current)}.</strong> Traces older than that are deleted continuously, as they reach that age.
          </>
        ) : (
          <span className="text-error">
            The tag <code>{RETENTION_TAG}</code> holds <code>{current.value}</code>, which is not a whole number of days.
          </span>
        )}
      </p>
      {manages && (
        <form className="inline-form" onSubmit={submit} aria-label="Retention">
          <label className="field-inline">
            <span>Delete traces older than</span>
            <input type="number" min={1} max={MAX_DAYS} step={1} required value={text} onChange={(e) => setTyped(e.target.value)} className="days-input" data-testid="retention-days" />
            <span>days</span>
          </label>
          <button type="submit" className="danger" disabled={days === null || unchanged || set.isPending}>
            Set retention
          </button>
          {current !== undefined && current.kind !== 'forever' && (
            <button type="button" onClick={() => remove.mutate()} disabled={remove.isPending}>
              Keep forever
            </button>
          )}
        </form>
      )}
      {manages && days !== null && !unchanged && (
        <p className="warn-text" role="status" data-testid="retention-warning">
          Once set, the server deletes every trace older than {num(days)} day{days === 1 ? '' : 's'}, with its spans, assessments and LLM calls, and goes on deleting each
          trace as it reaches that age. Deleted traces cannot be recovered.
          {older.data && ` Today that is ${num(older.data.traces)} trace${older.data.traces === 1 ? '' : 's'}, from before ${dateTime(older.data.cutoff)}.`}
        </p>
      )}
      <ErrorNote error={experiment.error ?? set.error ?? remove.error ?? older.error} />
    </div>
  );
}
