import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useParams } from 'react-router';
import { api, PERMISSIONS, type Permission } from '../api';
import { ErrorNote, isForbidden, NoAccess } from '../components/bits';

/** What each permission allows, as the server's access rules say (each includes the ones before). */
const MEANING: Record<Permission, string> = {
  NO_PERMISSIONS: 'nothing, whatever the default',
  READ: 'see traces, sessions, users and charts',
  USE: 'also log traces and edit their tags',
  EDIT: 'also delete traces and change the experiment',
  MANAGE: 'also delete the experiment and give access to it',
};

/**
 * `/experiments/{id}/access`, for those who manage the experiment: who has which permission on
 * it. Admins may do everything everywhere; accounts not listed have the server's default.
 */
export function PermissionsPage() {
  const { experimentId = '0' } = useParams();
  const client = useQueryClient();
  const key = ['permissions', experimentId];
  const permissions = useQuery({ queryKey: key, queryFn: ({ signal }) => api.permissions(experimentId, signal) });
  const changed = () => void client.invalidateQueries({ queryKey: key });
  const set = useMutation({
    mutationFn: (p: { how: 'create' | 'update'; username: string; permission: Permission }) => api.setPermission(p.how, experimentId, p.username, p.permission),
    onSuccess: changed,
  });
  const remove = useMutation({ mutationFn: (username: string) => api.deletePermission(experimentId, username), onSuccess: changed });
  const [username, setUsername] = useState('');
  const [permission, setPermission] = useState<Permission>('READ');

  if (isForbidden(permissions.error)) {
    return (
      <div className="page page-narrow">
        <NoAccess title="Only those who manage this experiment can see who has access to it.">{permissions.error.message}</NoAccess>
      </div>
    );
  }
  const list = permissions.data ?? [];
  const grant = (event: FormEvent) => {
    event.preventDefault();
    const name = username.trim();
    const how = list.some((p) => p.username === name) ? 'update' : 'create';
    set.mutate({ how, username: name, permission }, { onSuccess: () => setUsername('') });
  };

  return (
    <div className="page page-narrow">
      <div className="page-head">
        <h1>Access</h1>
        <span className="muted">{permissions.data ? `${list.length} account${list.length === 1 ? '' : 's'} with a permission of their own` : ''}</span>
      </div>
      <p className="muted intro">Admins may do everything; an account not listed here has the server's default permission.</p>
      <form className="inline-form" onSubmit={grant} aria-label="Give an account access">
        <label className="field-inline">
          <span>Account</span>
          <input value={username} onChange={(e) => setUsername(e.target.value)} required spellCheck={false} autoComplete="off" placeholder="username" data-testid="grant-username" />
        </label>
        <PermissionSelect label="Permission" value={permission} onChange={setPermission} testId="grant-permission" />
        <button type="submit" className="primary" disabled={set.isPending}>
          Give access
        </button>
      </form>
      <ErrorNote error={permissions.error ?? set.error ?? remove.error} />
      <table className="plain-table" data-testid="permissions">
        <thead>
          <tr>
            <th>Account</th>
            <th>Permission</th>
            <th>Allows</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.map((p) => (
            <tr key={p.username}>
              <td className="mono">{p.username}</td>
              <td>
                <PermissionSelect label={`Permission of ${p.username}`} hideLabel value={p.permission} onChange={(next) => set.mutate({ how: 'update', username: p.username, permission: next })} />
              </td>
              <td className="muted">{MEANING[p.permission]}</td>
              <td className="row-actions">
                <button className="small" aria-label={`Remove the permission of ${p.username}`} disabled={remove.isPending} onClick={() => remove.mutate(p.username)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {permissions.isSuccess && list.length === 0 && (
            <tr>
              <td colSpan={4} className="muted">
                No account has a permission of its own here.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function PermissionSelect({ label, hideLabel, value, onChange, testId }: { label: string; hideLabel?: boolean; value: Permission; onChange: (p: Permission) => void; testId?: string }) {
  const select = (
    <select value={value} onChange={(e) => onChange(e.target.value as Permission)} {...(hideLabel ? { 'aria-label': label } : {})} {...(testId ? { 'data-testid': testId } : {})}>
      {PERMISSIONS.map((p) => (
        <option key={p} value={p}>
          {p}
        </option>
      ))}
    </select>
  );
  if (hideLabel) return select;
  return (
    <label className="field-inline">
      <span>{label}</span>
      {select}
    </label>
  );
}
