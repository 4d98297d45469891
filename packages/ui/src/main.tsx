import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router';
import { Layout } from './components/Layout';
import { ExperimentsPage } from './pages/ExperimentsPage';
import { SessionPage } from './pages/SessionPage';
import { SessionsPage } from './pages/SessionsPage';
import { TracesPage } from './pages/TracesPage';
import { UsersPage } from './pages/UsersPage';
import { api } from './api';
import { useMe, watchSession } from './session';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: { queries: { staleTime: 10_000, retry: (count, error) => count < 2 && !(error && 'status' in error && (error as { status: number }).status < 500), refetchOnWindowFocus: false } },
});
watchSession(queryClient);

/**
 * `/`: the default experiment's traces when it is the only one; otherwise the list of experiments,
 * so a newcomer whose data went to another experiment (the demo's, say) does not land on an empty
 * default. With accounts on, always the list: the default may not be readable.
 */
function Home() {
  const me = useMe();
  const experiments = useQuery({ queryKey: ['experiments'], queryFn: ({ signal }) => api.experiments(signal), staleTime: 60_000, enabled: me.data !== undefined && !me.data.auth_enabled });
  if (me.data?.auth_enabled) return <Navigate to="/experiments" replace />;
  if (experiments.isLoading || me.isLoading) return <p className="muted">Loading experiments…</p>;
  const active = (experiments.data ?? []).filter((e) => e.lifecycle_stage !== 'deleted');
  return <Navigate to={active.length > 1 ? '/experiments' : '/experiments/0/traces'} replace />;
}

/**
 * Every view and filter lives in the URL, so any screen can be shared by its link. The lists load
 * with the app; the chart pages (uPlot), the trace detail and the account pages come as their own
 * chunks when opened.
 */
const router = createBrowserRouter([
  {
    path: '/',
    element: <Layout />,
    children: [
      { index: true, element: <Home /> },
      { path: 'experiments', element: <ExperimentsPage /> },
      { path: 'experiments/:experimentId', element: <Navigate to="traces" replace /> },
      { path: 'experiments/:experimentId/overview', lazy: async () => ({ Component: (await import('./pages/OverviewPage')).OverviewPage }) },
      { path: 'experiments/:experimentId/traces', element: <TracesPage /> },
      { path: 'experiments/:experimentId/traces/:traceId', lazy: async () => ({ Component: (await import('./pages/TracePage')).TracePage }) },
      { path: 'experiments/:experimentId/sessions', element: <SessionsPage /> },
      { path: 'experiments/:experimentId/sessions/:sessionId', element: <SessionPage /> },
      { path: 'experiments/:experimentId/users', element: <UsersPage /> },
      { path: 'experiments/:experimentId/users/:userId', lazy: async () => ({ Component: (await import('./pages/UserPage')).UserPage }) },
      { path: 'experiments/:experimentId/privacy', lazy: async () => ({ Component: (await import('./pages/PrivacyPage')).PrivacyPage }) },
      { path: 'experiments/:experimentId/privacy/erasures/:erasureId', lazy: async () => ({ Component: (await import('./pages/PrivacyPage')).ErasurePage }) },
      { path: 'experiments/:experimentId/access', lazy: async () => ({ Component: (await import('./pages/PermissionsPage')).PermissionsPage }) },
      { path: 'tokens', lazy: async () => ({ Component: (await import('./pages/TokensPage')).TokensPage }) },
      { path: 'accounts', lazy: async () => ({ Component: (await import('./pages/AccountsPage')).AccountsPage }) },
      { path: 'accounts/audit', lazy: async () => ({ Component: (await import('./pages/AccountsPage')).AuditPage }) },
      { path: '*', element: <div className="page"><h1>Not found</h1><p>No page at this address.</p></div> },
    ],
  },
]);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
