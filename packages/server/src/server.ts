import type { FastifyInstance } from 'fastify';
import { createApp } from './http/app.js';
import { resumeErasuresInBackground } from './store/erasures.js';
import { runRetentionInBackground } from './store/retention.js';
import { openStore, parseStoreUri, StoreUriError, type StoreLocation, type StoreOptions } from './store/create-store.js';
import type { KyselyTraceStore } from './store/kysely-store.js';
import { AccountStore, type Permission } from './store/accounts.js';
import type { AuthOptions } from './http/auth/access.js';
import type { RedactionRules } from './redaction/rules.js';

export interface ServerOptions {
  host?: string;
  port?: number;
  backendStoreUri: string;
  logLevel?: string;
  /** Working directory that relative SQLite paths are resolved against. */
  cwd?: string;
  /** Longest a database query may run; see StoreOptions. */
  /** How long an erase stays its runner's between batches before another process may resume it. */
  eraseLeaseMillis?: number;
  /** How often retention deletes traces older than their experiment's retention; default a minute. */
  retentionIntervalMillis?: number;
  queryTimeoutMillis?: number;
  /** Host names the server answers to besides loopback ones and its own addresses; see EdgeSecurityOptions. */
  allowedHosts?: string[];
  /** Web origins allowed to send state-changing requests besides the server's own. */
  allowedOrigins?: string[];
  /**
   * Accounts, tokens and permissions: true to require them, false to run open on purpose.
   * Left undefined, the server runs open on a loopback address and refuses to start on any other.
   */
  auth?: boolean;
  /** Permission of an account on an experiment it was given none on. Default READ. */
  defaultPermission?: Permission;
  /** An admin account created at start-up if it does not exist (THREADLINE_ADMIN_USERNAME / _PASSWORD). */
  bootstrapAdmin?: { username: string; password: string };
  /** What to redact from every trace at ingest, in every experiment; see AppOptions. */
  redaction?: RedactionRules;
}

export interface RunningServer {
  url: string;
  storeDescription: string;
  app: FastifyInstance;
  store: KyselyTraceStore;
  close(): Promise<void>;
}

/** A start-up failure the operator can fix, reported in one line. */
export class StartupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

/**
 * Opens the store, runs its migrations and listens. Every way this commonly fails (a bad URI, an
 * unreachable database, a port in use) becomes a StartupError with a one-line message.
 *
 * @example
 * const server = await startServer({ backendStoreUri: 'sqlite:///threadline.db', port: 5000 });
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  let location: StoreLocation;
  try {
    location = parseStoreUri(options.backendStoreUri, options.cwd);
  } catch (error) {
    if (error instanceof StoreUriError) throw new StartupError(error.message, 2);
    throw error;
  }
  const host = options.host ?? '127.0.0.1';
  if (options.auth === undefined && !isLoopbackAddress(host)) {
    throw new StartupError(
      `Listening on ${host} would let anyone on the network read and delete every trace. Add --auth to require accounts and tokens, or --no-auth if something in front of the server already authenticates.`,
      2,
    );
  }
  const store = await openOrExplain(location, { ...(options.queryTimeoutMillis !== undefined ? { queryTimeoutMillis: options.queryTimeoutMillis } : {}) });
  let auth: AuthOptions | undefined;
  if (options.auth) {
    try {
      auth = { accounts: await accountsWithAdmin(new AccountStore(store.db), options.bootstrapAdmin), defaultPermission: options.defaultPermission ?? 'READ' };
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  const app = await createApp({
    store,
    logger: { level: options.logLevel ?? 'warn' },
    edge: { listenHost: host, allowedHosts: options.allowedHosts ?? [], allowedOrigins: options.allowedOrigins ?? [] },
    ...(auth ? { auth } : {}),
    ...(options.redaction ? { redaction: options.redaction } : {}),
  });
  const port = options.port ?? 5000;
  try {
    await app.listen({ host, port });
  } catch (error) {
    await store.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new StartupError(`Port ${port} on ${host} is already in use; stop the other server or pass --port.`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new StartupError(`Cannot listen on ${host}: no such local address.`);
    if (code === 'EACCES') throw new StartupError(`Not allowed to listen on ${host}:${port}; choose a port above 1023.`);
    throw error;
  }
  // Erases a crashed process left unfinished are completed (DESIGN.md §8, store/erasures.ts).
  if (options.eraseLeaseMillis !== undefined) store.erasures.leaseMs = options.eraseLeaseMillis;
  const stopResuming = resumeErasuresInBackground(store.erasures, (error) => app.log.error({ err: error }, 'could not resume an unfinished erase'));
  const stopRetention = runRetentionInBackground(store.retention, (error) => app.log.error({ err: error }, 'a retention pass failed'), options.retentionIntervalMillis);
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    storeDescription: location.kind === 'sqlite' ? `SQLite ${location.path}` : `PostgreSQL ${redactPassword(location.connectionString)}`,
    app,
    store,
    close: async () => {
      await stopResuming();
      await stopRetention();
      await app.close();
      await store.close();
    },
  };
}

/** The account store, with the bootstrap admin created if asked for; refuses to run with no account at all. */
async function accountsWithAdmin(accounts: AccountStore, admin: ServerOptions['bootstrapAdmin']): Promise<AccountStore> {
  if (admin && !(await accounts.getAccount(admin.username))) {
    await accounts.createAccount({ ...admin, isAdmin: true });
    await accounts.audit('system', 'account.create', admin.username, { is_admin: true, from: 'THREADLINE_ADMIN_USERNAME' });
  }
  if ((await accounts.countAccounts()) === 0) {
    throw new StartupError('--auth needs an admin to sign in with: set THREADLINE_ADMIN_USERNAME and THREADLINE_ADMIN_PASSWORD, or run `threadline create-account --admin --username <name>` first.', 2);
  }
  return accounts;
}

function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(host) || host === '::1';
}

async function openOrExplain(location: StoreLocation, options: StoreOptions): Promise<KyselyTraceStore> {
  try {
    return await openStore(location, options);
  } catch (error) {
    const where = location.kind === 'sqlite' ? `SQLite database ${location.path}` : `PostgreSQL at ${redactPassword(location.connectionString)}`;
    const reason = (error as Error).message || (error as NodeJS.ErrnoException).code || String(error);
    throw new StartupError(`Cannot open the ${where}: ${reason.split('\n')[0]}`);
  }
}

function redactPassword(uri: string): string {
  try {
    const url = new URL(uri);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return uri;
  }
}
