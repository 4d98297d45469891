import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent, type ReactNode } from 'react';
import { NavLink } from 'react-router';
import { api, type AccountJson } from '../api';
import { ErrorNote, NoAccess } from '../components/bits';
import { dateTime } from '../format';
import { useMe } from '../session';

const AUDIT_PAGE = 100;

/** `/accounts`, for admins: every account, creating one, the admin flag, deleting one. */
export function AccountsPage() {
  return (
    <AdminFrame title="Accounts">
      <AccountsList />
    </AdminFrame>
  );
}

/** `/accounts/audit`, for admins: who signed in, and who changed accounts, tokens and permissions; newest first. */
export function AuditPage() {
  return (
    <AdminFrame title="Audit log">
      <AuditLog />
    </AdminFrame>
  );
}

/** The admin pages' heading and tabs; for anyone else, why there is nothing here. */
function AdminFrame({ title, children }: { title: string; children: ReactNode }) {
  const me = useMe().data;
  return (
    <div className="page page-narrow">
      <div className="page-head">
        <h1>{title}</h1>
      </div>
      {me?.is_admin ? (
        <>
          <nav className="subtabs" aria-label="Administration">
            <NavLink end to="/accounts" className={({ isActive }) => (isActive ? 'subtab active' : 'subtab')}>
              Accounts
            </NavLink>
            <NavLink to="/accounts/audit" className={({ isActive }) => (isActive ? 'subtab active' : 'subtab')}>
              Audit log
            </NavLink>
          </nav>
          {children}
        </>
      ) : (
        <NoAccess title="Only admins can see this page." />
      )}
    </div>
  );
}

function AccountsList() {
  const client = useQueryClient();
  const myName = useMe().data?.username;
  const accounts = useQuery({ queryKey: ['accounts'], queryFn: ({ signal }) => api.accounts(signal) });
  const changed = () => {
    void client.invalidateQueries({ queryKey: ['accounts'] });
    void client.invalidateQueries({ queryKey: ['audit'] });
  };
  const setAdmin = useMutation({ mutationFn: (a: { username: string; isAdmin: boolean }) => api.setAdmin(a.username, a.isAdmin), onSuccess: changed });
  const remove = useMutation({ mutationFn: (username: string) => api.deleteAccount(username), onSuccess: changed });
  const list = accounts.data ?? [];

  return (
    <>
      <CreateAccountForm onCreated={changed} />
      <ErrorNote error={accounts.error ?? setAdmin.error ?? remove.error} />
      <div className="table-status">
        <span>{accounts.data ? `${list.length} account${list.length === 1 ? '' : 's'}, ${list.filter((a) => a.is_admin).length} admin` : 'Loading…'}</span>
      </div>
      <table className="plain-table" data-testid="accounts">
        <thead>
          <tr>
            <th>Username</th>
            <th>Role</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.map((a) => (
            <AccountRow
              key={a.username}
              account={a}
              isMe={a.username === myName}
              busy={(setAdmin.isPending && setAdmin.variables.username === a.username) || (remove.isPending && remove.variables === a.username)}
              onSetAdmin={(isAdmin) => setAdmin.mutate({ username: a.username, isAdmin })}
              onDelete={() => remove.mutate(a.username)}
            />
          ))}
        </tbody>
      </table>
    </>
  );
}

function AccountRow({ account: a, isMe, busy, onSetAdmin, onDelete }: { account: AccountJson; isMe: boolean; busy: boolean; onSetAdmin: (isAdmin: boolean) => void; onDelete: () => void }) {
  // An admin does not take away their own way back in; another admin can.
  const self = isMe ? 'That is you: another admin can do this.' : undefined;
  return (
    <tr>
      <td>
        <span className="mono">{a.username}</span>
        {isMe && <span className="muted"> (you)</span>}
      </td>
      <td>{a.is_admin ? <span className="badge badge-admin">Admin</span> : <span className="muted">Member</span>}</td>
      <td>{dateTime(a.created_time_ms)}</td>
      <td className="row-actions">
        <button className="small" disabled={busy || (isMe && a.is_admin)} title={a.is_admin ? self : undefined} aria-label={a.is_admin ? `Remove admin from ${a.username}` : `Make ${a.username} an admin`} onClick={() => onSetAdmin(!a.is_admin)}>
          {a.is_admin ? 'Remove admin' : 'Make admin'}
        </button>
        <button
          className="danger small"
          disabled={busy || isMe}
          title={self}
          aria-label={`Delete account ${a.username}`}
          onClick={() => {
            if (window.confirm(`Delete the account "${a.username}"? Its tokens stop working and its permissions are removed. This cannot be undone.`)) onDelete();
          }}
        >
          Delete
        </button>
      </td>
    </tr>
  );
}

function CreateAccountForm({ onCreated }: { onCreated: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [createdName, setCreatedName] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (a: { username: string; password: string }) => api.createAccount(a.username, a.password),
    onSuccess: (_, a) => {
      setCreatedName(a.username);
      setUsername('');
      setPassword('');
      onCreated();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setCreatedName(null);
    create.mutate({ username: username.trim(), password });
  };
  return (
    <>
      <form className="inline-form" onSubmit={submit} aria-label="Create an account">
        <label className="field-inline">
          <span>Username</span>
          <input value={username} onChange={(e) => setUsername(e.target.value)} required maxLength={64} pattern="[A-Za-z0-9._@\-]+" title="Letters, digits or . _ @ -" autoComplete="off" spellCheck={false} data-testid="new-username" />
        </label>
        <label className="field-inline">
          <span>Password</span>
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={8} autoComplete="new-password" placeholder="8 characters or more" data-testid="new-password" />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Create account
        </button>
        {createdName && (
          <span className="muted" role="status">
            Created {createdName}. Give them the password; they can then create their own tokens.
          </span>
        )}
      </form>
      <ErrorNote error={create.error} />
    </>
  );
}

function AuditLog() {
  const events = useInfiniteQuery({
    queryKey: ['audit'],
    queryFn: ({ pageParam, signal }) => api.audit(pageParam, AUDIT_PAGE, signal),
    initialPageParam: undefined as number | undefined,
    // The server pages by event id, newest first: the next page is what came before the last one.
    getNextPageParam: (last) => (last.length === AUDIT_PAGE ? last[last.length - 1]?.event_id : undefined),
    staleTime: 0,
  });
  const rows = events.data?.pages.flat() ?? [];
  return (
    <>
      <ErrorNote error={events.error} />
      <table className="plain-table" data-testid="audit">
        <thead>
          <tr>
            <th>Time</th>
            <th>Who</th>
            <th>Action</th>
            <th>Target</th>
            <th>Details</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.event_id}>
              <td>{dateTime(e.time_ms)}</td>
              <td className="mono">{e.actor}</td>
              <td className="mono">{e.action}</td>
              <td>{e.target}</td>
              <td className="mono muted-2 details">{Object.keys(e.details).length > 0 ? JSON.stringify(e.details) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="table-status">
        {events.hasNextPage ? (
          <button onClick={() => void events.fetchNextPage()} disabled={events.isFetchingNextPage}>
            {events.isFetchingNextPage ? 'Loading…' : 'Show older events'}
          </button>
        ) : (
          events.isSuccess && <span className="muted">{rows.length} events, all shown.</span>
        )}
      </div>
    </>
  );
}
