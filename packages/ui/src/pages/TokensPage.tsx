import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, type ApiToken, type CreatedToken } from '../api';
import { ErrorNote } from '../components/bits';
import { ago, dateTime } from '../format';

/**
 * `/tokens`: the signed-in account's API tokens, for SDKs (MLFLOW_TRACKING_TOKEN) and OTLP
 * exporters (`Authorization: Bearer`). A token acts with its account's permissions; its secret is
 * shown once, when it is created, and the server keeps only a hash.
 */
export function TokensPage() {
  const client = useQueryClient();
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: ({ signal }) => api.tokens(signal) });
  const [name, setName] = useState('');
  const refresh = () => void client.invalidateQueries({ queryKey: ['tokens'] });
  const create = useMutation({
    mutationFn: (tokenName: string) => api.createToken(tokenName),
    onSuccess: () => {
      setName('');
      refresh();
    },
  });
  const revoke = useMutation({ mutationFn: (tokenId: string) => api.revokeToken(tokenId), onSuccess: refresh });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    // The server says what a name may be; an empty one gets its message.
    create.mutate(name.trim());
  };
  const list = tokens.data ?? [];
  const live = list.filter((t) => t.revoked_time_ms === null).length;

  return (
    <div className="page page-narrow">
      <div className="page-head">
        <h1>API tokens</h1>
        <span className="muted">{tokens.data ? `${live} active, ${list.length - live} revoked` : ''}</span>
      </div>
      <p className="muted intro">
        A token lets an SDK or an OpenTelemetry exporter send traces and read them as you, with your permissions. Give each place that uses one its own token, so
        that you can revoke it alone.
      </p>
      <form className="inline-form" onSubmit={submit} aria-label="Create a token">
        <label className="field-inline">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="laptop, ci, prod-ingest…" maxLength={100} required spellCheck={false} data-testid="token-name" />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Create token
        </button>
      </form>
      <ErrorNote error={create.error} />
      {/* The secret lives only in the mutation's reply, forgotten when dismissed. */}
      {create.data && <NewTokenPanel token={create.data} onDone={() => create.reset()} />}

      <ErrorNote error={tokens.error ?? revoke.error} />
      <table className="plain-table" data-testid="tokens">
        <thead>
          <tr>
            <th>Name</th>
            <th>Created</th>
            <th>Last used</th>
            <th>Status</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.map((t) => (
            <TokenRow key={t.token_id} token={t} revoking={revoke.isPending && revoke.variables === t.token_id} onRevoke={() => revoke.mutate(t.token_id)} />
          ))}
          {tokens.isSuccess && list.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No tokens yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function TokenRow({ token: t, revoking, onRevoke }: { token: ApiToken; revoking: boolean; onRevoke: () => void }) {
  const revoked = t.revoked_time_ms !== null;
  return (
    <tr className={revoked ? 'row-revoked' : undefined}>
      <td>{t.name}</td>
      <td>{dateTime(t.created_time_ms)}</td>
      <td title={t.last_used_time_ms === null ? undefined : ago(t.last_used_time_ms)}>{t.last_used_time_ms === null ? <span className="muted">Never</span> : dateTime(t.last_used_time_ms)}</td>
      <td>{revoked ? <span className="badge state-state_unspecified">Revoked {dateTime(t.revoked_time_ms)}</span> : <span className="badge state-ok">Active</span>}</td>
      <td className="row-actions">
        {!revoked && (
          <button
            className="danger small"
            aria-label={`Revoke token ${t.name}`}
            disabled={revoking}
            onClick={() => {
              if (window.confirm(`Revoke the token "${t.name}"? Anything that uses it stops working at once. This cannot be undone.`)) onRevoke();
            }}
          >
            Revoke
          </button>
        )}
      </td>
    </tr>
  );
}

/** The new token's secret, this one time, with the environment lines that use it. */
function NewTokenPanel({ token, onDone }: { token: CreatedToken; onDone: () => void }) {
  const origin = window.location.origin;
  // OTLP header values are percent-encoded (OpenTelemetry's exporter specification): the space is %20.
  const env = [
    `MLFLOW_TRACKING_URI=${origin}`,
    `MLFLOW_TRACKING_TOKEN=${token.token}`,
    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${origin}/v1/traces`,
    `OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20${token.token},x-mlflow-experiment-id=0`,
  ].join('\n');
  const panel = useRef<HTMLElement>(null);
  // Keyboard and screen-reader users land on the secret, not on the form they just left.
  useEffect(() => panel.current?.focus(), [token.token_id]);
  return (
    <section ref={panel} tabIndex={-1} className="secret-panel" aria-labelledby="new-token-title" data-testid="new-token">
      <h2 id="new-token-title">Token “{token.name}” created</h2>
      <p className="warn-text" role="status">
        Copy the token now: it will not be shown again. The server keeps only a hash of it.
      </p>
      <CopyableText text={token.token} label="Copy token" className="secret" testId="token-secret" />
      <h3>Use it from an application</h3>
      <CopyableText text={env} label="Copy lines" className="env-lines" testId="token-env" />
      <p className="muted small">Over OTLP, x-mlflow-experiment-id says which experiment the traces go to.</p>
      <button onClick={onDone}>I have copied it</button>
    </section>
  );
}

/** Text with a button that copies it; where the browser refuses, the text is selected for Ctrl+C instead. */
function CopyableText({ text, label, className, testId }: { text: string; label: string; className: string; testId: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'select'>('idle');
  const box = useRef<HTMLPreElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      if (box.current) window.getSelection()?.selectAllChildren(box.current);
      setState('select');
    }
  };
  return (
    <div className="secret-row">
      <pre ref={box} className={className} data-testid={testId}>
        {text}
      </pre>
      <div className="copy">
        <button type="button" onClick={() => void copy()}>
          {state === 'copied' ? 'Copied ✓' : label}
        </button>
        <span role="status" className={state === 'select' ? 'muted small' : 'visually-hidden'}>
          {state === 'copied' ? 'Copied to the clipboard.' : state === 'select' ? 'Selected: press Ctrl+C (⌘C) to copy.' : ''}
        </span>
      </div>
    </div>
  );
}
