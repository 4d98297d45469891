import { ErrorCode } from '@threadline/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, invalidParameter, notFound } from '../../errors.js';
import { parseExperimentId } from '../../ingest/mlflow-trace-info.js';
import { AccountExistsError, PERMISSIONS, type Account, type AccountStore, type Permission } from '../../store/accounts.js';
import { bodyObject, optionalInteger, requiredString } from '../fields.js';
import { experimentField, type AccessControl } from './access.js';
import { addAccessRules, ADMIN, PUBLIC, SIGNED_IN } from './access-rules.js';
import { actorOf, cookieValue, SESSION_COOKIE, type Caller } from './caller.js';

/** How long a UI sign-in lasts. */
const SESSION_TTL_MILLIS = 12 * 60 * 60 * 1000;
const MANAGE_EXPERIMENT = { kind: 'experiment', need: 'MANAGE', locate: experimentField } as const;

/** Paths, relative to the API prefixes. */
export const AccountPath = {
  USERS_CREATE: '/2.0/mlflow/users/create',
  USERS_GET: '/2.0/mlflow/users/get',
  USERS_UPDATE_PASSWORD: '/2.0/mlflow/users/update-password',
  USERS_UPDATE_ADMIN: '/2.0/mlflow/users/update-admin',
  USERS_DELETE: '/2.0/mlflow/users/delete',
  PERMISSIONS_CREATE: '/2.0/mlflow/experiments/permissions/create',
  PERMISSIONS_GET: '/2.0/mlflow/experiments/permissions/get',
  PERMISSIONS_UPDATE: '/2.0/mlflow/experiments/permissions/update',
  PERMISSIONS_DELETE: '/2.0/mlflow/experiments/permissions/delete',
  EXPERIMENT_PERMISSIONS: '/threadline/experiments/:experiment_id/permissions',
  LOGIN: '/threadline/auth/login',
  LOGOUT: '/threadline/auth/logout',
  ME: '/threadline/auth/me',
  TOKENS: '/threadline/tokens',
  TOKEN: '/threadline/tokens/:token_id',
  ACCOUNTS: '/threadline/accounts',
  AUDIT: '/threadline/audit',
} as const;

addAccessRules(
  [
    ['POST', AccountPath.USERS_CREATE, ADMIN],
    // Oneself or, for an admin, anyone: the handlers check which.
    ['GET', AccountPath.USERS_GET, SIGNED_IN],
    ['PATCH', AccountPath.USERS_UPDATE_PASSWORD, SIGNED_IN],
    ['PATCH', AccountPath.USERS_UPDATE_ADMIN, ADMIN],
    ['DELETE', AccountPath.USERS_DELETE, ADMIN],
    ['POST', AccountPath.PERMISSIONS_CREATE, MANAGE_EXPERIMENT],
    ['GET', AccountPath.PERMISSIONS_GET, MANAGE_EXPERIMENT],
    ['PATCH', AccountPath.PERMISSIONS_UPDATE, MANAGE_EXPERIMENT],
    ['DELETE', AccountPath.PERMISSIONS_DELETE, MANAGE_EXPERIMENT],
    ['GET', AccountPath.EXPERIMENT_PERMISSIONS, MANAGE_EXPERIMENT],
    ['POST', AccountPath.LOGIN, PUBLIC],
    ['POST', AccountPath.LOGOUT, PUBLIC],
    ['GET', AccountPath.ME, PUBLIC],
    ['GET', AccountPath.TOKENS, SIGNED_IN],
    ['POST', AccountPath.TOKENS, SIGNED_IN],
    ['DELETE', AccountPath.TOKEN, SIGNED_IN],
    ['GET', AccountPath.ACCOUNTS, ADMIN],
    ['GET', AccountPath.AUDIT, ADMIN],
  ],
  { underApiPrefixes: true },
);

/**
 * Accounts, tokens, sign-in and permissions: MLflow's auth API (`/api/2.0/mlflow/users/...`,
 * `/api/2.0/mlflow/experiments/permissions/...`), so MLflow's own auth clients work, plus what the
 * UI needs (sign-in with a cookie, tokens, the accounts list, the audit log). While auth is off
 * they answer 400: there is nothing to sign in to.
 */
export function registerAccountRoutes(app: FastifyInstance, access: AccessControl, accounts: AccountStore | undefined): void {
  const store = (): AccountStore => {
    if (!accounts) throw new ApiError(ErrorCode.BAD_REQUEST, 'Accounts are off on this server; start it with --auth to use them.');
    return accounts;
  };
  const signedIn = (request: FastifyRequest): Account => {
    const caller = access.callerOf(request);
    if (caller.kind !== 'account') throw new ApiError(ErrorCode.UNAUTHENTICATED, 'Sign in first.');
    return caller.account;
  };
  const audit = (request: FastifyRequest, action: string, target: string, details: Record<string, unknown> = {}) =>
    store().audit(actorOf(access.callerOf(request)), action, target, details);
  const accountNamed = async (username: string): Promise<Account> => {
    const account = await store().getAccount(username);
    if (!account) throw notFound(`No account named '${username}'.`);
    return account;
  };
  /** Oneself, or anyone for an admin. */
  const selfOrAdmin = (request: FastifyRequest, username: string): void => {
    const me = signedIn(request);
    if (!me.isAdmin && me.username !== username) throw new ApiError(ErrorCode.PERMISSION_DENIED, `Only '${username}' or an admin may do this.`);
  };

  app.post(AccountPath.USERS_CREATE, async (req) => {
    const body = bodyObject(req.body);
    const username = validUsername(requiredString(body, 'username'));
    const password = validPassword(requiredString(body, 'password'));
    try {
      const account = await store().createAccount({ username, password });
      await audit(req, 'account.create', username);
      return { user: userJson(account, []) };
    } catch (error) {
      if (error instanceof AccountExistsError) throw new ApiError(ErrorCode.RESOURCE_ALREADY_EXISTS, error.message);
      throw error;
    }
  });

  app.get(AccountPath.USERS_GET, async (req) => {
    const username = requiredString(bodyObject(req.query), 'username');
    selfOrAdmin(req, username);
    const account = await accountNamed(username);
    return { user: userJson(account, [...(await store().permissionsOf(account.accountId))]) };
  });

  app.patch(AccountPath.USERS_UPDATE_PASSWORD, async (req) => {
    const body = bodyObject(req.body);
    const username = requiredString(body, 'username');
    selfOrAdmin(req, username);
    const account = await accountNamed(username);
    await store().setPassword(account.accountId, validPassword(requiredString(body, 'password')));
    access.changed();
    await audit(req, 'account.password', username);
    return {};
  });

  app.patch(AccountPath.USERS_UPDATE_ADMIN, async (req) => {
    const body = bodyObject(req.body);
    const account = await accountNamed(requiredString(body, 'username'));
    const isAdmin = body.is_admin === true || body.is_admin === 'true';
    await store().setAdmin(account.accountId, isAdmin);
    access.changed();
    await audit(req, 'account.admin', account.username, { is_admin: isAdmin });
    return {};
  });

  app.delete(AccountPath.USERS_DELETE, async (req) => {
    const account = await accountNamed(requiredString({ ...bodyObject(req.query), ...bodyObject(req.body) }, 'username'));
    await store().deleteAccount(account.accountId);
    access.changed();
    await audit(req, 'account.delete', account.username);
    return {};
  });

  const permissionTarget = async (req: FastifyRequest) => {
    const fields = { ...bodyObject(req.query), ...bodyObject(req.body) };
    return { experimentId: parseExperimentId(fields.experiment_id, 'experiment_id'), account: await accountNamed(requiredString(fields, 'username')), fields };
  };
  const setPermission = async (req: FastifyRequest) => {
    const { experimentId, account, fields } = await permissionTarget(req);
    const permission = validPermission(requiredString(fields, 'permission'));
    await store().setPermission(experimentId, account.accountId, permission);
    access.changed();
    await audit(req, 'permission.set', `experiment ${experimentId}`, { username: account.username, permission });
    return {};
  };
  app.post(AccountPath.PERMISSIONS_CREATE, setPermission);
  app.patch(AccountPath.PERMISSIONS_UPDATE, setPermission);
  app.get(AccountPath.PERMISSIONS_GET, async (req) => {
    const { experimentId, account } = await permissionTarget(req);
    const permission = (await store().permissionsOf(account.accountId)).get(experimentId);
    if (permission === undefined) throw notFound(`'${account.username}' has no permission of its own on experiment ${experimentId}.`);
    return { experiment_permission: { experiment_id: experimentId, user_id: String(account.accountId), permission } };
  });
  app.delete(AccountPath.PERMISSIONS_DELETE, async (req) => {
    const { experimentId, account } = await permissionTarget(req);
    if (!(await store().deletePermission(experimentId, account.accountId))) throw notFound(`'${account.username}' has no permission of its own on experiment ${experimentId}.`);
    access.changed();
    await audit(req, 'permission.delete', `experiment ${experimentId}`, { username: account.username });
    return {};
  });
  app.get<{ Params: { experiment_id: string } }>(AccountPath.EXPERIMENT_PERMISSIONS, async (req) => {
    const experimentId = parseExperimentId(req.params.experiment_id, 'experiment_id');
    return { permissions: await store().permissionsOfExperiment(experimentId) };
  });

  // ---- the UI's sign-in ------------------------------------------------------------------------

  app.post(AccountPath.LOGIN, async (req, reply) => {
    const body = bodyObject(req.body);
    const username = requiredString(body, 'username');
    const account = await store().verifyLogin(username, requiredString(body, 'password'));
    if (!account) {
      await store().audit(username, 'login.failed', username);
      throw new ApiError(ErrorCode.UNAUTHENTICATED, 'Wrong username or password.');
    }
    const session = await store().createUiSession(account.accountId, SESSION_TTL_MILLIS);
    await store().audit(username, 'login', username);
    setSessionCookie(reply, req, session.sessionId, SESSION_TTL_MILLIS / 1000);
    return meJson(access, { kind: 'account', account, via: 'session', csrfToken: session.csrfToken });
  });

  app.post(AccountPath.LOGOUT, async (req, reply) => {
    const sessionId = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (sessionId !== undefined && accounts) await accounts.deleteUiSession(sessionId);
    access.changed();
    setSessionCookie(reply, req, '', 0);
    return {};
  });

  app.get(AccountPath.ME, async (req) => meJson(access, access.callerOf(req)));

  // ---- tokens ----------------------------------------------------------------------------------

  app.get(AccountPath.TOKENS, async (req) => ({ tokens: (await store().listTokens(signedIn(req).accountId)).map(tokenJson) }));

  app.post(AccountPath.TOKENS, async (req) => {
    const name = requiredString(bodyObject(req.body), 'name').trim();
    if (name.length === 0 || name.length > 100) throw invalidParameter('A token name is 1 to 100 characters.');
    const me = signedIn(req);
    const created = await store().createToken(me.accountId, name);
    await audit(req, 'token.create', me.username, { token_id: created.tokenId, name });
    // The only time the secret is ever shown.
    return { token: created.token, ...tokenJson(created) };
  });

  app.delete<{ Params: { token_id: string } }>(AccountPath.TOKEN, async (req) => {
    const me = signedIn(req);
    if (!(await store().revokeToken(me.accountId, req.params.token_id))) throw notFound(`No live token '${req.params.token_id}' of '${me.username}'.`);
    access.changed();
    await audit(req, 'token.revoke', me.username, { token_id: req.params.token_id });
    return {};
  });

  // ---- admin -------------------------------------------------------------------------------------

  app.get(AccountPath.ACCOUNTS, async () => ({
    accounts: (await store().listAccounts()).map((a) => ({ username: a.username, is_admin: a.isAdmin, created_time_ms: a.createdTime })),
  }));

  app.get(AccountPath.AUDIT, async (req) => {
    const query = bodyObject(req.query);
    const before = optionalInteger(query, 'before_event_id', 1);
    const events = await store().auditEvents({ limit: optionalInteger(query, 'max_results', 1, 1000) ?? 100, ...(before !== undefined ? { beforeEventId: before } : {}) });
    return { events: events.map((e) => ({ event_id: e.eventId, time_ms: e.time, actor: e.actor, action: e.action, target: e.target, details: e.details })) };
  });
}

function meJson(access: AccessControl, caller: Caller) {
  if (caller.kind !== 'account') return { auth_enabled: access.enabled, signed_in: false };
  return {
    auth_enabled: access.enabled,
    signed_in: true,
    username: caller.account.username,
    is_admin: caller.account.isAdmin,
    ...(caller.via === 'session' ? { csrf_token: caller.csrfToken } : {}),
  };
}

function setSessionCookie(reply: FastifyReply, request: FastifyRequest, value: string, maxAgeSeconds: number): void {
  // Secure when the request came over TLS (directly or through a proxy that says so).
  const secure = request.protocol === 'https' || request.headers['x-forwarded-proto'] === 'https';
  void reply.header('set-cookie', `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeSeconds)}${secure ? '; Secure' : ''}`);
}

function userJson(account: Account, permissions: [string, Permission][]) {
  return {
    id: String(account.accountId),
    username: account.username,
    is_admin: account.isAdmin,
    experiment_permissions: permissions.map(([experimentId, permission]) => ({ experiment_id: experimentId, user_id: String(account.accountId), permission })),
  };
}

function tokenJson(t: { tokenId: string; name: string; createdTime: number; lastUsedTime: number | null; revokedTime: number | null }) {
  return { token_id: t.tokenId, name: t.name, created_time_ms: t.createdTime, last_used_time_ms: t.lastUsedTime, revoked_time_ms: t.revokedTime };
}

function validUsername(username: string): string {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(username)) throw invalidParameter('A username is 1 to 64 letters, digits or . _ @ -.');
  return username;
}

function validPassword(password: string): string {
  if (password.length < 8 || password.length > 1024) throw invalidParameter('A password is 8 to 1024 characters.');
  return password;
}

function validPermission(raw: string): Permission {
  if (!(PERMISSIONS as readonly string[]).includes(raw)) throw invalidParameter(`permission must be one of ${PERMISSIONS.join(', ')}; got '${raw}'.`);
  return raw as Permission;
}
