import { useQuery } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { Link, NavLink, Outlet, useLocation, useNavigate, useParams } from 'react-router';
import { ApiError, type Me } from '../api';
import { SignInPage } from '../pages/SignInPage';
import { experimentQuery, experimentsQuery } from '../queries';
import { needsSignIn, useManagesExperiment, useMe, useSessionActions } from '../session';
import { setTheme, useTheme } from '../theme';
import { ErrorNote, isForbidden, NoAccess } from './bits';

const SECTIONS = [
  ['overview', 'Overview'],
  ['traces', 'Traces'],
  ['sessions', 'Sessions'],
  ['users', 'Users'],
  // Retention and the receipts of erasures: every reader may see them; changes need MANAGE.
  ['privacy', 'Privacy'],
] as const;
/** Shown only to those who manage the experiment (always, for admins), when the server has accounts. */
const ACCESS_SECTION = ['access', 'Access'] as const;

/**
 * The frame: brand, experiment switcher, the sections, who is signed in, theme toggle. When the
 * server asks for accounts and this browser is not signed in, the sign-in page takes the place of
 * every page (the address stays, to come back to); with auth off nothing here changes.
 */
export function Layout() {
  const { experimentId } = useParams();
  const navigate = useNavigate();
  const location = useLocation();
  const { choice, resolved } = useTheme();
  const me = useMe();
  const signedOut = needsSignIn(me.data);
  // Until `me` answers, nothing asks for data: a signed-out browser would only collect 401s.
  const ready = !me.isPending && !signedOut;
  const authOn = me.data?.auth_enabled === true;
  const experiments = useQuery({ ...experimentsQuery, enabled: ready });
  // Who may be given access is for those who manage the experiment.
  const manages = useManagesExperiment(ready ? experimentId : undefined);
  const sections: readonly (readonly [path: string, label: string])[] = authOn && manages ? [...SECTIONS, ACCESS_SECTION] : SECTIONS;
  const section = /^\/experiments\/[^/]+\/([^/]+)/.exec(location.pathname)?.[1] ?? 'traces';
  const nextTheme = choice === 'system' ? (resolved === 'dark' ? 'light' : 'dark') : choice === 'dark' ? 'light' : 'dark';

  return (
    <div className="app">
      <header className="topbar">
        <Link to="/experiments" className="brand" aria-label="Threadline home">
          <svg className="brand-mark" width="18" height="18" viewBox="0 0 18 18" aria-hidden>
            <circle cx="4" cy="4" r="2.2" fill="currentColor" />
            <circle cx="14" cy="9" r="2.2" fill="currentColor" opacity=".7" />
            <circle cx="4" cy="14" r="2.2" fill="currentColor" opacity=".45" />
            <path d="M4 4 L14 9 L4 14" stroke="currentColor" strokeWidth="1.4" fill="none" />
          </svg>
          Threadline
        </Link>
        {ready && experimentId !== undefined && (
          <label className="exp-switch">
            <span className="muted">Experiment</span>
            <select
              aria-label="Experiment"
              aria-busy={experiments.isPending || undefined}
              value={experimentId}
              onChange={(e) => navigate(`/experiments/${encodeURIComponent(e.target.value)}/${sections.some(([s]) => s === section) ? section : 'traces'}`)}
            >
              {(experiments.data ?? []).map((e) => (
                <option key={e.experiment_id} value={e.experiment_id}>
                  {e.name} ({e.experiment_id})
                </option>
              ))}
              {!experiments.data?.some((e) => e.experiment_id === experimentId) && (
                <option value={experimentId}>{experiments.isPending ? 'Loading experiments…' : `Experiment ${experimentId}`}</option>
              )}
            </select>
          </label>
        )}
        {ready && experimentId !== undefined && (
          <nav className="tabs" aria-label="Sections">
            {sections.map(([path, label]) => (
              <NavLink key={path} to={`/experiments/${encodeURIComponent(experimentId)}/${path}`} className={({ isActive }) => (isActive || section === path ? 'tab active' : 'tab')}>
                {label}
              </NavLink>
            ))}
          </nav>
        )}
        <div className="topbar-right">
          {ready && (
            <Link to="/experiments" className="muted small-link">
              All experiments
            </Link>
          )}
          {me.data?.signed_in && <AccountMenu me={me.data} />}
          <button
            className="ghost"
            data-testid="theme-toggle"
            title={`Theme: ${choice} (${resolved}). Switch to ${nextTheme}; double-click for system.`}
            onClick={() => setTheme(nextTheme)}
            onDoubleClick={() => setTheme('system')}
          >
            {resolved === 'dark' ? '☾' : '☀'}
          </button>
        </div>
      </header>
      <main className="main">
        {me.isPending ? null : signedOut ? (
          <SignInPage />
        ) : experimentId !== undefined ? (
          <ExperimentAccess experimentId={experimentId} authOn={authOn}>
            <Outlet />
          </ExperimentAccess>
        ) : (
          <Outlet />
        )}
      </main>
    </div>
  );
}

/** The signed-in account, its pages, and signing out (which leaves for the sign-in page at `/`). */
function AccountMenu({ me }: { me: Me }) {
  const { signOut } = useSessionActions();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const linkClass = ({ isActive }: { isActive: boolean }) => (isActive ? 'small-link active' : 'muted small-link');
  return (
    <div className="account-menu">
      <NavLink to="/tokens" className={linkClass}>
        Tokens
      </NavLink>
      {me.is_admin && (
        <NavLink to="/accounts" className={linkClass}>
          Accounts
        </NavLink>
      )}
      <span className="whoami" data-testid="signed-in-as" title={`Signed in as ${me.username ?? ''}${me.is_admin ? ' (admin)' : ''}`}>
        {me.username}
      </span>
      <button
        className="ghost small"
        title={error ?? undefined}
        onClick={() => {
          setError(null);
          signOut().then(
            () => navigate('/'),
            (e: unknown) => setError(`Could not sign out: ${e instanceof Error ? e.message : String(e)}`),
          );
        }}
      >
        Sign out
      </button>
      {error && (
        <span className="text-error small" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/**
 * An experiment's pages, once the server says it exists and the caller may read it; otherwise why
 * not, in place of the data. (Every section asks for the same permission, so one check covers them
 * all; and a search of traces in an experiment that does not exist answers an empty list, which
 * would read as "0 traces".)
 */
function ExperimentAccess({ experimentId, authOn, children }: { experimentId: string; authOn: boolean; children: ReactNode }) {
  const experiment = useQuery(experimentQuery(experimentId));
  // With accounts, nothing shows until the answer says it may (no flash of 403s); without, the
  // page loads alongside and gives way if the experiment turns out not to exist.
  if (experiment.isPending) return authOn ? null : children;
  if (experiment.error instanceof ApiError && experiment.error.status === 404) {
    return (
      <div className="page">
        <h1>Experiment not found</h1>
        <ErrorNote error={experiment.error} />
        <p>
          <Link to="/experiments">See all experiments</Link>
        </p>
      </div>
    );
  }
  if (isForbidden(experiment.error)) {
    return (
      <div className="page">
        <NoAccess title="You don't have access to this experiment." hint="Someone who manages it, or an admin, can give you access.">
          {experiment.error.message}
        </NoAccess>
      </div>
    );
  }
  return children;
}
