import { ErrorCode } from '@threadline/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.js';
import { isObject } from '../../ingest/mlflow-spans.js';
import { PERMISSIONS, type AccountStore, type Permission } from '../../store/accounts.js';
import type { TraceStore } from '../../store/store.js';
import { actorOf, ANONYMOUS, CallerResolver, type Caller } from './caller.js';

/**
 * What a route asks of its caller. With auth off every route is open, as before; with auth on:
 * - `public`: anyone (health, the UI's files, signing in);
 * - `signed-in`: any account (its own tokens; creating an experiment, which it then manages);
 * - `admin`: accounts with the admin flag (accounts, the audit log);
 * - `experiment`: the permission `need` on every experiment the request touches, as `locate`
 *   finds them (from the body, the query, the path, or the stored traces it names).
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'signed-in' }
  | { kind: 'admin' }
  | { kind: 'experiment'; need: Permission; locate: Locator };

/** The experiments a request touches; none when it names nothing that exists (the route answers 404). */
export type Locator = (request: FastifyRequest, store: TraceStore) => Promise<string[]>;

export interface AuthOptions {
  accounts: AccountStore;
  /** What an account may do in an experiment it was given no permission on. MLflow's default: READ. */
  defaultPermission: Permission;
}

const RANK = new Map<Permission, number>(PERMISSIONS.map((p, i) => [p, i]));
const PERMISSION_CACHE_MILLIS = 10_000;

/**
 * Decides, per request, whether the caller may do what the route does: one check for every
 * route, from one table (`rules`), so that a route cannot be added without saying who may use
 * it: registering one that the table does not cover fails at start-up.
 */
export class AccessControl {
  readonly enabled: boolean;
  private readonly callers: CallerResolver | undefined;
  private readonly permissionCache = new Map<number, { permissions: Map<string, Permission>; until: number }>();
  private readonly requestCallers = new WeakMap<FastifyRequest, Caller>();

  constructor(
    private readonly auth: AuthOptions | undefined,
    private readonly store: TraceStore,
  ) {
    this.enabled = auth !== undefined;
    this.callers = auth && new CallerResolver(auth.accounts);
  }

  /**
   * Hooks the checks into `app` (before any route is registered): the caller is resolved when a
   * request arrives, and its access is checked once the body is parsed, before the handler.
   */
  install(app: FastifyInstance, ruleOf: (method: string, url: string) => Access | undefined): void {
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) {
        if (method === 'HEAD' || method === 'OPTIONS') continue;
        if (!ruleOf(method, route.url)) throw new Error(`Route ${method} ${route.url} declares no access rule (http/auth/access-rules.ts).`);
      }
    });
    app.addHook('onRequest', async (request) => {
      if (this.callers) this.requestCallers.set(request, await this.callers.resolve(request));
    });
    app.addHook('preHandler', async (request) => {
      if (!this.enabled) return;
      const url = request.routeOptions.url;
      // Unmatched paths (404s) have no rule and nothing to protect.
      if (url === undefined) return;
      const rule = ruleOf(request.method === 'HEAD' ? 'GET' : request.method, url);
      if (!rule) throw new ApiError(ErrorCode.PERMISSION_DENIED, `No access rule for ${request.method} ${url}.`);
      await this.check(request, rule);
    });
  }

  /** Who sent the request (anonymous while auth is off or without credentials). */
  callerOf(request: FastifyRequest): Caller {
    return this.requestCallers.get(request) ?? ANONYMOUS;
  }

  /** Records what the request's caller did in the audit log (while auth is on). */
  async audit(request: FastifyRequest, action: string, target: string, details: Record<string, unknown> = {}): Promise<void> {
    await this.auth?.accounts.audit(actorOf(this.callerOf(request)), action, target, details);
  }

  /** Forgets cached credentials and permissions after an account, token or permission changed. */
  changed(): void {
    this.callers?.forgetAll();
    this.permissionCache.clear();
  }

  /** The caller's permission on an experiment (MANAGE for everyone while auth is off). */
  async permission(caller: Caller, experimentId: string): Promise<Permission> {
    if (!this.auth) return 'MANAGE';
    if (caller.kind !== 'account') return 'NO_PERMISSIONS';
    if (caller.account.isAdmin) return 'MANAGE';
    return (await this.permissionsOf(caller.account.accountId)).get(experimentId) ?? this.auth.defaultPermission;
  }

  /** Whether the caller may read the experiment: for filtering lists. */
  async canRead(caller: Caller, experimentId: string): Promise<boolean> {
    return rank(await this.permission(caller, experimentId)) >= rank('READ');
  }

  private async check(request: FastifyRequest, rule: Access): Promise<void> {
    if (rule.kind === 'public') return;
    const caller = this.callerOf(request);
    if (caller.kind !== 'account') {
      throw new ApiError(ErrorCode.UNAUTHENTICATED, 'Sign in first: send a token (Authorization: Bearer, MLFLOW_TRACKING_TOKEN) or a username and password (HTTP Basic).');
    }
    if (caller.via === 'session' && request.method !== 'GET' && request.headers['x-csrf-token'] !== caller.csrfToken) {
      throw new ApiError(ErrorCode.PERMISSION_DENIED, 'This request needs the X-CSRF-Token header of the signed-in session.');
    }
    if (rule.kind === 'signed-in' || caller.account.isAdmin) return;
    if (rule.kind === 'admin') throw new ApiError(ErrorCode.PERMISSION_DENIED, `Only an admin may do this; '${caller.account.username}' is not one.`);
    for (const experimentId of new Set(await rule.locate(request, this.store))) {
      const permission = await this.permission(caller, experimentId);
      if (rank(permission) < rank(rule.need)) {
        throw new ApiError(ErrorCode.PERMISSION_DENIED, `'${caller.account.username}' has ${permission} on experiment ${experimentId}; this needs ${rule.need}.`);
      }
    }
  }

  private async permissionsOf(accountId: number): Promise<Map<string, Permission>> {
    const now = Date.now();
    const hit = this.permissionCache.get(accountId);
    if (hit && hit.until > now) return hit.permissions;
    const permissions = await this.auth!.accounts.permissionsOf(accountId);
    this.permissionCache.set(accountId, { permissions, until: now + PERMISSION_CACHE_MILLIS });
    return permissions;
  }
}

export function rank(permission: Permission): number {
  return RANK.get(permission) ?? 0;
}

// ---- locators: where a request names its experiments -------------------------------------------

const idOf = (raw: unknown): string[] => (typeof raw === 'string' && /^\d{1,18}$/.test(raw) ? [String(Number(raw))] : typeof raw === 'number' && Number.isSafeInteger(raw) ? [String(raw)] : []);
const fieldsOf = (request: FastifyRequest): Record<string, unknown> => ({
  ...(isObject(request.query) ? request.query : {}),
  ...(isObject(request.body) ? request.body : {}),
});

/** `experiment_id` in the path, the body or the query. */
export const experimentField: Locator = async (request) => {
  const params = isObject(request.params) ? request.params : {};
  return idOf(params.experiment_id ?? fieldsOf(request).experiment_id);
};

/** Every experiment a trace search names: V3 `locations`, V2 `experiment_ids`. */
export const searchedExperiments: Locator = async (request) => {
  const fields = fieldsOf(request);
  const locations = Array.isArray(fields.locations) ? fields.locations : [];
  const ids = [
    ...locations.flatMap((l) => (isObject(l) && isObject(l.mlflow_experiment) ? idOf(l.mlflow_experiment.experiment_id) : [])),
    ...(Array.isArray(fields.experiment_ids) ? fields.experiment_ids : [fields.experiment_ids]).flatMap(idOf),
  ];
  // A search that names no experiment is refused by the route; checking nothing here is safe.
  return ids;
};

/** The experiment a new trace's info names. */
export const loggedTraceExperiment: Locator = async (request) => {
  const info = isObject(request.body) && isObject(request.body.trace) ? request.body.trace.trace_info : undefined;
  const location = isObject(info) && isObject(info.trace_location) ? info.trace_location.mlflow_experiment : undefined;
  return isObject(location) ? idOf(location.experiment_id) : [];
};

/** `x-mlflow-experiment-id` of an OTLP request, default `0`. */
export const otlpExperiment: Locator = async (request) => {
  const header = request.headers['x-mlflow-experiment-id'];
  return idOf((Array.isArray(header) ? header[0] : header)?.trim() || '0');
};

/** `<experiment>/traces/<id>/...` of an artifact path. */
export const artifactExperiment: Locator = async (request) => {
  const path = (request.params as Record<string, string | undefined>)['*'] ?? '';
  return idOf(/^(\d+)\//.exec(path)?.[1]);
};

/** The experiments of the stored traces a request names (path, query or body), wherever they are. */
export const tracesExperiments: Locator = async (request, store) => {
  const params = isObject(request.params) ? request.params : {};
  const fields = fieldsOf(request);
  const ids = [params.trace_id, params.request_id, params.id, fields.trace_id, fields.request_id, ...[fields.trace_ids, fields.request_ids].flatMap((v) => (Array.isArray(v) ? v : [v]))].filter(
    (v): v is string => typeof v === 'string' && v.length > 0 && v.length <= 200,
  );
  if (ids.length === 0) return [];
  return store.experimentsOfTraces([...new Set(ids)].slice(0, 1000));
};
