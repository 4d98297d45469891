import type { FastifyInstance } from 'fastify';
import { createApp } from './http/app.js';
import { openStore, parseStoreUri, StoreUriError, type StoreLocation, type StoreOptions } from './store/create-store.js';
import type { KyselyTraceStore } from './store/kysely-store.js';

export interface ServerOptions {
  host?: string;
  port?: number;
  backendStoreUri: string;
  logLevel?: string;
  /** Working directory that relative SQLite paths are resolved against. */
  cwd?: string;
  /** Longest a database query may run; see StoreOptions. */
  queryTimeoutMillis?: number;
  /** Host names the server answers to besides loopback ones and its own addresses; see EdgeSecurityOptions. */
  allowedHosts?: string[];
  /** Web origins allowed to send state-changing requests besides the server's own. */
  allowedOrigins?: string[];
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
  const store = await openOrExplain(location, { ...(options.queryTimeoutMillis !== undefined ? { queryTimeoutMillis: options.queryTimeoutMillis } : {}) });
  const host = options.host ?? '127.0.0.1';
  const app = await createApp({
    store,
    logger: { level: options.logLevel ?? 'warn' },
    edge: { listenHost: host, allowedHosts: options.allowedHosts ?? [], allowedOrigins: options.allowedOrigins ?? [] },
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
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    storeDescription: location.kind === 'sqlite' ? `SQLite ${location.path}` : `PostgreSQL ${redactPassword(location.connectionString)}`,
    app,
    store,
    close: async () => {
      await app.close();
      await store.close();
    },
  };
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
