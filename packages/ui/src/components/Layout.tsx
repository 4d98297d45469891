import { useQuery } from '@tanstack/react-query';
import { Link, NavLink, Outlet, useLocation, useNavigate, useParams } from 'react-router';
import { api } from '../api';
import { setTheme, useTheme } from '../theme';

const SECTIONS = [
  ['overview', 'Overview'],
  ['traces', 'Traces'],
  ['sessions', 'Sessions'],
  ['users', 'Users'],
] as const;

/** The frame: brand, experiment switcher, the four sections, theme toggle. */
export function Layout() {
  const { experimentId } = useParams();
  const navigate = useNavigate();
  const location = useLocation();
  const { choice, resolved } = useTheme();
  const experiments = useQuery({ queryKey: ['experiments'], queryFn: ({ signal }) => api.experiments(signal), staleTime: 60_000 });
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
        {experimentId !== undefined && (
          <label className="exp-switch">
            <span className="muted">Experiment</span>
            <select
              aria-label="Experiment"
              value={experimentId}
              onChange={(e) => navigate(`/experiments/${encodeURIComponent(e.target.value)}/${SECTIONS.some(([s]) => s === section) ? section : 'traces'}`)}
            >
              {(experiments.data ?? []).map((e) => (
                <option key={e.experiment_id} value={e.experiment_id}>
                  {e.name} ({e.experiment_id})
                </option>
              ))}
              {!experiments.data?.some((e) => e.experiment_id === experimentId) && <option value={experimentId}>{experimentId}</option>}
            </select>
          </label>
        )}
        {experimentId !== undefined && (
          <nav className="tabs" aria-label="Sections">
            {SECTIONS.map(([path, label]) => (
              <NavLink key={path} to={`/experiments/${encodeURIComponent(experimentId)}/${path}`} className={({ isActive }) => (isActive || section === path ? 'tab active' : 'tab')}>
                {label}
              </NavLink>
            ))}
          </nav>
        )}
        <div className="topbar-right">
          <Link to="/experiments" className="muted small-link">
            All experiments
          </Link>
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
        <Outlet />
      </main>
    </div>
  );
}
