import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { ErasureJson } from '@threadline/protocol';
import { api } from '../api';
import { dateTime, num } from '../format';
import { experimentQuery } from '../queries';
import { useManagesExperiment, useMe } from '../session';
import { ErrorNote, paths } from './bits';
import { ErasureReceipt, erasureKey, erasureTraceCount, refreshAfterErase, useErasure } from './ErasureReceipt';

/** Whom an erase is about, with what the page knows of them (for the dialog to say how much goes). */
export type EraseSubject = { kind: 'user'; id: string; traceCount?: number; sessionCount?: number } | { kind: 'session'; id: string; traceCount?: number; userIds?: string[] };

/**
 * "Erase…" on a user's or a session's page, for those who manage the experiment: a dialog that
 * says what goes, asks for the id typed out (as GitHub asks for a repository's name before
 * deleting it), erases, and shows the receipt. `onErased` gets the receipt when the dialog closes
 * after an erase, complete or still running (the page cannot keep this dialog if it changes first).
 */
export function EraseAction({ subject, experimentId, onErased }: { subject: EraseSubject; experimentId: string; onErased: (receipt: ErasureJson) => void }) {
  const manages = useManagesExperiment(experimentId);
  const [open, setOpen] = useState(false);
  if (!manages) return null;
  return (
    <div className="danger-zone">
      <button className="danger-outline" onClick={() => setOpen(true)}>
        Erase…
      </button>
      {open && (
        <EraseDialog
          subject={subject}
          experimentId={experimentId}
          onClose={(receipt) => {
            setOpen(false);
            if (receipt) onErased(receipt);
          }}
        />
      )}
    </div>
  );
}

function EraseDialog({ subject, experimentId, onClose }: { subject: EraseSubject; experimentId: string; onClose: (receipt: ErasureJson | undefined) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  // Modal: the page behind is inert, focus stays inside, Escape cancels.
  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);
  const client = useQueryClient();
  const authOn = useMe().data?.auth_enabled === true;
  const experiment = useQuery(experimentQuery(experimentId));
  const [everyExperiment, setEveryExperiment] = useState(false);
  const [typed, setTyped] = useState('');
  const erase = useMutation({
    mutationFn: () => (subject.kind === 'user' ? api.eraseUser(subject.id, everyExperiment ? undefined : experimentId) : api.eraseSession(subject.id, experimentId)),
    onSuccess: (answered) => {
      client.setQueryData(erasureKey(answered.erasure_id), answered);
      if (answered.state === 'complete') refreshAfterErase(client);
    },
  });
  // Polled while it runs: the erase may answer 202 before its last batch.
  const receipt = useErasure(erase.data?.erasure_id).data;
  const confirmed = typed === subject.id;
  const close = () => onClose(erase.data);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (confirmed && !erase.isPending) erase.mutate();
  };
  const noun = subject.kind;
  const experimentName = <strong>{experiment.data?.name ?? `experiment ${experimentId}`}</strong>;
  const everywhere = authOn ? 'every experiment you manage' : 'every experiment on this server';

  return (
    <dialog
      ref={dialog}
      className="dialog"
      aria-labelledby="erase-title"
      data-testid="erase-dialog"
      // An erase under way cannot be called back: the dialog stays until it has answered.
      onCancel={(e) => {
        e.preventDefault();
        if (!erase.isPending) close();
      }}
    >
      {receipt ? (
        <div className="dialog-body">
          <h2 id="erase-title">
            {receipt.state === 'complete' ? 'Erased' : 'Erasing'} {noun} <span className="mono subject-id">{subject.id}</span>
            {receipt.state === 'running' && '…'}
          </h2>
          <p className="muted">
            {receipt.state === 'complete'
              ? `Every trace of this ${noun} is gone. The receipt below stays: it holds no erased data.`
              : 'The server goes on until every trace is gone, even if you close this; the receipt shows how far it got.'}
          </p>
          <ErasureReceipt erasure={receipt} />
          <div className="dialog-actions">
            <Link className="button" to={paths.erasure(experimentId, receipt.erasure_id)}>
              Open the receipt
            </Link>
            <button className="primary" onClick={close} autoFocus>
              Close
            </button>
          </div>
        </div>
      ) : (
        <form className="dialog-body" onSubmit={submit}>
          <h2 id="erase-title">
            Erase {noun} <span className="mono subject-id">{subject.id}</span>?
          </h2>
          {subject.kind === 'user' && (
            <fieldset className="choices" disabled={erase.isPending}>
              <legend>Where</legend>
              <label className="choice">
                <input type="radio" name="erase-scope" checked={!everyExperiment} onChange={() => setEveryExperiment(false)} />
                <span>
                  In this experiment, {experimentName}
                  {subject.traceCount !== undefined && (
                    <span className="muted">
                      {' '}
                      ({plural(subject.traceCount, 'trace')} in {plural(subject.sessionCount ?? 0, 'session')})
                    </span>
                  )}
                </span>
              </label>
              <label className="choice">
                <input type="radio" name="erase-scope" checked={everyExperiment} onChange={() => setEveryExperiment(true)} />
                <span>In {everywhere}</span>
              </label>
            </fieldset>
          )}
          <div className="erase-what" data-testid="erase-what">
            {subject.kind === 'user' ? (
              <>
                <p>
                  This permanently deletes every trace of user <span className="mono subject-id">{subject.id}</span> {everyExperiment ? <>in {everywhere}</> : <>in {experimentName}</>}, with:
                </p>
                <ul>
                  <li>their spans (inputs and outputs), metadata, tags and LLM calls;</li>
                  <li>the feedback and assessments on them, and the feedback this user gave on other traces and sessions;</li>
                  <li>the user's sessions: one shared with other users keeps their turns; one left empty goes with its assessments.</li>
                </ul>
              </>
            ) : (
              <>
                <p>
                  This permanently deletes every trace of session <span className="mono subject-id">{subject.id}</span> in {experimentName}
                  {subject.traceCount !== undefined && ` (${plural(subject.traceCount, 'turn')}${subject.userIds?.length ? ` from ${subject.userIds.join(', ')}` : ''})`}, with:
                </p>
                <ul>
                  <li>their spans (inputs and outputs), metadata, tags and LLM calls;</li>
                  <li>the feedback and assessments on them and on the session.</li>
                </ul>
              </>
            )}
            <p className="warn-text">This cannot be undone. A receipt records how much went, when and who asked, and none of the erased data.</p>
          </div>
          <label className="field">
            <span>
              To confirm, type the {noun} id <span className="mono subject-id">{subject.id}</span>
            </span>
            <input value={typed} onChange={(e) => setTyped(e.target.value)} className="mono" spellCheck={false} autoComplete="off" disabled={erase.isPending} data-testid="erase-confirm" />
          </label>
          <ErrorNote error={erase.error} />
          <div className="dialog-actions">
            <button type="button" onClick={close} disabled={erase.isPending}>
              Cancel
            </button>
            <button type="submit" className="danger" disabled={!confirmed || erase.isPending}>
              {erase.isPending ? 'Erasing…' : `Erase this ${noun}`}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

const plural = (n: number, noun: string) => `${num(n)} ${noun}${n === 1 ? '' : 's'}`;

/**
 * Where an erased user's or session's data was: that it no longer exists (or, when traces came
 * after the erase, that those below are newer), with the receipt. `present`: whether the page
 * still finds the subject.
 */
export function ErasedNotice({ kind, id, erasureId, experimentId, present }: { kind: EraseSubject['kind']; id: string; erasureId: string; experimentId: string; present: boolean }) {
  const receipt = useErasure(erasureId);
  if (receipt.error) return <ErrorNote error={receipt.error} />;
  const e = receipt.data;
  if (!e) return null;
  const subject = (
    <>
      {kind === 'user' ? 'User' : 'Session'} <span className="mono subject-id">{id}</span>
    </>
  );
  const link = (
    <Link to={paths.erasure(experimentId, e.erasure_id)} data-testid="erased-receipt-link">
      See the receipt <span className="mono">{e.erasure_id}</span>
    </Link>
  );
  return (
    <div className="erased-note" role="status" data-testid="erased-notice">
      {e.state === 'running' ? (
        <>
          <strong>{subject} is being erased:</strong> {plural(erasureTraceCount(e), 'trace')} deleted so far. {link}
        </>
      ) : (
        <>
          <strong>
            {subject} {present ? 'was erased' : 'no longer exists'}:
          </strong>{' '}
          erased {dateTime(e.completed_time_ms)}, {plural(erasureTraceCount(e), 'trace')} deleted
          {e.experiment_ids.length > 1 && ` in ${e.experiment_ids.length} experiments`}.{present && ' What shows below came after.'} {link}
        </>
      )}
    </div>
  );
}
