import type { AssessmentJson, FeedbackSummaryJson } from '@threadline/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useMe } from '../session';
import { dateTime } from '../format';

/** An assessment's value as a person reads it: yes/no for booleans, JSON for the rest. */
export function assessmentValueText(a: AssessmentJson): string {
  if (a.feedback) {
    if (a.feedback.error && !('value' in a.feedback)) return `error: ${a.feedback.error.error_message ?? a.feedback.error.error_code ?? 'unknown'}`;
    const value = a.feedback.value;
    if (value === true) return '✓ yes';
    if (value === false) return '✗ no';
    return typeof value === 'string' ? value : JSON.stringify(value);
  }
  const expectation = a.expectation;
  if (!expectation) return '';
  if (expectation.serialized_value) return expectation.serialized_value.value;
  return typeof expectation.value === 'string' ? expectation.value : JSON.stringify(expectation.value);
}

/** Text typed in the form: JSON when it parses (true, 4, {"a":1}), the text itself otherwise. */
function valueOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Records a HUMAN assessment from the signed-in account (or "reviewer"), then refreshes what shows it. */
function useAddAssessment(traceId: string, onDone?: () => void) {
  const client = useQueryClient();
  const me = useMe();
  return useMutation({
    mutationFn: (assessment: Omit<AssessmentJson, 'source'>) => api.createAssessment(traceId, { ...assessment, source: { source_type: 'HUMAN', source_id: me.data?.username ?? 'reviewer' } }),
    onSuccess: () => {
      onDone?.();
      for (const key of [['trace', traceId], ['traces'], ['session-turns'], ['sessions']]) void client.invalidateQueries({ queryKey: key });
    },
  });
}

/**
 * Under a turn of a conversation: its valid feedback, and a reviewer's thumbs up or down on it
 * (feedback `user_satisfaction`, as the chat app records its end users').
 */
export function TurnFeedback({ traceId, assessments }: { traceId: string; assessments: AssessmentJson[] }) {
  const add = useAddAssessment(traceId);
  const feedback = assessments.filter((a) => a.feedback && a.valid !== false);
  const rate = (value: boolean) => add.mutate({ assessment_name: 'user_satisfaction', feedback: { value } });
  return (
    <div className="turn-feedback" data-testid="turn-feedback">
      {feedback.map((a) => (
        <span key={a.assessment_id} className="feedback-chip" title={a.rationale ?? ''}>
          {a.assessment_name}: {assessmentValueText(a)}
          {a.source?.source_id ? <span className="muted"> · {a.source.source_id}</span> : null}
          {a.rationale ? <span className="muted"> · “{a.rationale}”</span> : null}
        </span>
      ))}
      <span className="turn-rate">
        <button className="ghost small" aria-label="Thumbs up" title="This answer was good" disabled={add.isPending} onClick={() => rate(true)}>
          ✓ Good
        </button>
        <button className="ghost small" aria-label="Thumbs down" title="This answer was bad" disabled={add.isPending} onClick={() => rate(false)}>
          ✗ Bad
        </button>
      </span>
      {add.error && (
        <span className="error-text" role="alert">
          {(add.error as Error).message}
        </span>
      )}
    </div>
  );
}

/**
 * A trace's feedback and expectations: value, rationale, who gave it and when, and which were
 * overridden by a later one (kept, struck through). A reviewer adds feedback or an expectation
 * with the form; it is recorded as HUMAN, from the signed-in account (or "reviewer").
 */
export function AssessmentsPanel({ traceId, assessments }: { traceId: string; assessments: AssessmentJson[] }) {
  const [kind, setKind] = useState<'feedback' | 'expectation'>('feedback');
  const [name, setName] = useState('user_satisfaction');
  const [value, setValue] = useState('false');
  const [rationale, setRationale] = useState('');
  const [error, setError] = useState<string | undefined>();
  const add = useAddAssessment(traceId, () => {
    setError(undefined);
    setRationale('');
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim() === '') return setError('Give the assessment a name.');
    const parsed = valueOf(value);
    add.mutate(
      {
        assessment_name: name.trim(),
        ...(kind === 'feedback' ? { feedback: { value: parsed } } : { expectation: { value: parsed } }),
        ...(rationale.trim() !== '' ? { rationale: rationale.trim() } : {}),
      },
      { onError: (e) => setError((e as Error).message) },
    );
  };
  const sorted = [...assessments].sort((a, b) => String(a.create_time ?? '').localeCompare(String(b.create_time ?? '')));
  const overriddenBy = new Map(sorted.filter((a) => a.overrides).map((a) => [a.overrides!, a]));

  return (
    <details className="panel assessments" open data-testid="assessments">
      <summary>Feedback and expectations ({assessments.length})</summary>
      {sorted.length === 0 ? (
        <p className="muted">No feedback yet.</p>
      ) : (
        <table className="kv assessments-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Value</th>
              <th>Rationale</th>
              <th>Source</th>
              <th>When</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((a) => {
              const replacement = overriddenBy.get(a.assessment_id ?? '');
              return (
                <tr key={a.assessment_id} className={a.valid === false ? 'overridden' : ''} data-testid="assessment-row">
                  <td className="mono">{a.assessment_name}</td>
                  <td>{a.feedback ? 'feedback' : 'expectation'}</td>
                  <td>
                    <span className={a.valid === false ? 'struck' : ''}>{assessmentValueText(a)}</span>
                    {a.valid === false && <span className="muted"> (overridden{replacement ? ` by ${replacement.source?.source_id ?? 'someone'}` : ''})</span>}
                    {a.overrides && <span className="muted"> (corrects an earlier one)</span>}
                  </td>
                  <td className="wrap">{a.rationale ?? ''}</td>
                  <td>
                    {a.source?.source_type ?? ''}
                    {a.source?.source_id ? <span className="muted"> · {a.source.source_id}</span> : null}
                  </td>
                  <td>{a.create_time ? dateTime(Date.parse(a.create_time)) : ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <form className="assessment-form" onSubmit={submit} aria-label="Add feedback or an expectation">
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.target.value as 'feedback' | 'expectation')}>
            <option value="feedback">Feedback</option>
            <option value="expectation">Expectation</option>
          </select>
        </label>
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Value
          <input value={value} onChange={(e) => setValue(e.target.value)} placeholder="true, 4, or text" />
        </label>
        <label className="grow">
          Rationale
          <input value={rationale} onChange={(e) => setRationale(e.target.value)} placeholder="why (optional)" />
        </label>
        <button type="submit" disabled={add.isPending}>
          Add
        </button>
        {error && (
          <span className="error-text" role="alert">
            {error}
          </span>
        )}
      </form>
    </details>
  );
}

/**
 * A session's or user's feedback counts in a list cell: per name, ✓ positive and ✗ negative (or
 * the mean of numbers), the worst first; the whole breakdown in the tooltip.
 */
export function FeedbackCell({ feedback }: { feedback: Record<string, FeedbackSummaryJson> | undefined }) {
  const entries = Object.entries(feedback ?? {}).sort(([, a], [, b]) => b.negative - a.negative || b.count - a.count);
  if (entries.length === 0) return <span className="muted">–</span>;
  const part = ([name, f]: [string, FeedbackSummaryJson]) =>
    f.positive + f.negative > 0 ? `${name} ✓${f.positive} ✗${f.negative}` : f.numeric_count > 0 ? `${name} ⌀${(f.sum / f.numeric_count).toFixed(1)}` : `${name} ${f.count}`;
  return (
    <span className={`ellipsis ${entries.some(([, f]) => f.negative > 0) ? 'text-error' : ''}`} title={entries.map(part).join('\n')} data-testid="feedback-cell">
      {entries.map(part).join(' · ')}
    </span>
  );
}
