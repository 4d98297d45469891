import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { ApiError } from '../api';
import { num, shortTime, timeTitle } from '../format';
import { useCarryWords } from './Highlight';

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  if (isForbidden(error)) return <NoAccess>{error.message}</NoAccess>;
  const message = error instanceof ApiError ? `${error.message} (${error.code}, HTTP ${error.status})` : error instanceof Error ? error.message : String(error);
  return (
    <div className="error-note" role="alert">
      {message}
    </div>
  );
}

/** A filter the server refused (400): its message shows under the filter box. */
const isFilterError = (error: unknown): boolean => error instanceof ApiError && error.status === 400;

/** What a server-paged table says above its rows: still loading, a failed search, or how many are loaded. */
export function loadedCount(query: { isLoading: boolean; error: unknown; hasNextPage: boolean }, count: number, noun: string): string {
  if (query.isLoading) return 'Loading…';
  if (query.error) return 'Search failed';
  return `${num(count)} ${noun}${count === 1 ? '' : 's'}${query.hasNextPage ? ' loaded, more on scroll' : ''}`;
}

/**
 * In place of a table's rows when there are none: loading, why the search failed (a missing
 * experiment, an unreachable server: said here, where the rows would be), or that nothing matches.
 */
export function EmptyRows({ loading, error, noun, whenNone }: { loading: boolean; error: unknown; noun: string; whenNone?: ReactNode }) {
  if (loading) return <>Loading {noun}s…</>;
  if (isFilterError(error)) return <>The filter was refused: see why under the filter.</>;
  if (error) return <ErrorNote error={error} />;
  return whenNone ?? <>No {noun}s match.</>;
}

/**
 * What an experiment without a single trace shows instead of "No traces match": how to send one,
 * with this server's address and this experiment's id filled in.
 */
export function FirstTraceHelp({ experimentId }: { experimentId: string }) {
  const origin = window.location.origin;
  return (
    <div className="first-trace" data-testid="first-trace-help">
      <strong>No traces in this experiment yet.</strong>
      <p className="muted">Send one from your app with the TypeScript SDK (or MLflow's SDKs, unchanged):</p>
      <pre>{`import { init, trace, updateCurrentTrace } from '@threadline/tracing';

init({ trackingUri: '${origin}', experimentId: '${experimentId}' });

const answer = trace(async (message: string, userId: string, sessionId: string) => {
  updateCurrentTrace({ metadata: { 'mlflow.trace.user': userId, 'mlflow.trace.session': sessionId } });
  return \`You said: \${message}\`;
}, { name: 'answer' });`}</pre>
      <p className="muted">
        or from any OpenTelemetry exporter: <code>{`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${origin}/v1/traces OTEL_EXPORTER_OTLP_TRACES_HEADERS=x-mlflow-experiment-id=${experimentId}`}</code>. To see the
        demo's conversations instead, run <code>npm run demo</code> and pick its experiment above.
      </p>
    </div>
  );
}

/** Whether the server refused the signed-in caller (as opposed to not knowing who it is: 401). */
export const isForbidden = (error: unknown): error is ApiError => error instanceof ApiError && error.status === 403;

/**
 * In place of data the caller may not see, so that a refusal never reads as an empty list. The
 * server's reason (which permission it has, which one is needed) goes below the title.
 */
export function NoAccess({ title = "You don't have access to this.", hint, children }: { title?: string; hint?: string; children?: ReactNode }) {
  return (
    <div className="no-access" role="alert" data-testid="no-access">
      <strong>{title}</strong>
      {children !== undefined && <p className="muted">{children}</p>}
      {hint !== undefined && <p className="muted">{hint}</p>}
    </div>
  );
}

export function StateBadge({ state }: { state: string | undefined }) {
  const s = state ?? 'STATE_UNSPECIFIED';
  const label = s === 'IN_PROGRESS' ? 'Running' : s === 'ERROR' ? 'Error' : s === 'OK' ? 'OK' : '—';
  return <span className={`badge state-${s.toLowerCase()}`}>{label}</span>;
}

/** One number card. `loading`: a placeholder in place of the value, so that no zero is read as data. */
export function Stat({ label, value, sub, loading }: { label: string; value: ReactNode; sub?: ReactNode; loading?: boolean }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{loading ? <span className="skeleton" role="status" aria-label="Loading" /> : value}</div>
      {sub !== undefined && !loading && <div className="stat-sub">{sub}</div>}
    </div>
  );
}

/** A time in a table cell: short (the header names the zone), in full with how long ago on hover. */
export function TimeCell({ ms }: { ms: number | null | undefined }) {
  if (ms === null || ms === undefined) return <span className="muted">–</span>;
  return <span title={timeTitle(ms)}>{shortTime(ms)}</span>;
}

const enc = encodeURIComponent;
export const paths = {
  trace: (exp: string, id: string) => `/experiments/${enc(exp)}/traces/${enc(id)}`,
  session: (exp: string, id: string) => `/experiments/${enc(exp)}/sessions/${enc(id)}`,
  user: (exp: string, id: string) => `/experiments/${enc(exp)}/users/${enc(id)}`,
  traces: (exp: string, params?: Record<string, string>) => `/experiments/${enc(exp)}/traces${params ? '?' + new URLSearchParams(params).toString() : ''}`,
  erasure: (exp: string, id: string) => `/experiments/${enc(exp)}/privacy/erasures/${enc(id)}`,
};

function IdLink({ to, id }: { to: string; id: string | undefined | null }) {
  if (!id) return <span className="muted">—</span>;
  return (
    <Link className="idlink" to={to} title={id}>
      {id}
    </Link>
  );
}
export const UserLink = ({ exp, user }: { exp: string; user: string | undefined | null }) => <IdLink id={user} to={user ? paths.user(exp, user) : ''} />;
/** A session's link; it carries the words being highlighted (a word search) to the session's page. */
export function SessionLink({ exp, session }: { exp: string; session: string | undefined | null }) {
  const carry = useCarryWords();
  return <IdLink id={session} to={session ? carry(paths.session(exp, session)) : ''} />;
}
