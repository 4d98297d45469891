import { isAbsolute, resolve } from 'node:path';
import type { KyselyTraceStore } from './kysely-store.js';
import { openPostgresStore } from './postgres/postgres-store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';

/** A backend store URI that names no store Threadline can open. */
export class StoreUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUriError';
  }
}

/** The database a URI names, before anything is opened. */
export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; connectionString: string };

/**
 * Reads a backend store URI as MLflow writes them: `sqlite:///relative.db` (three slashes: a path
 * relative to `cwd`), `sqlite:////absolute.db` (four), `sqlite:///:memory:`, or
 * `postgresql://user@host:port/db` (also `postgres://`).
 *
 * @example
 * parseStoreUri('sqlite:///threadline.db', '/srv') // { kind: 'sqlite', path: '/srv/threadline.db' }
 */
export function parseStoreUri(uri: string, cwd: string = process.cwd()): StoreLocation {
  if (uri.startsWith('sqlite://')) {
    const rest = uri.slice('sqlite://'.length);
    if (!rest.startsWith('/') || rest.length < 2) {
      throw new StoreUriError(`Invalid SQLite URI '${uri}': write sqlite:///relative/path.db or sqlite:////absolute/path.db.`);
    }
    const path = rest.slice(1);
    if (path === ':memory:') return { kind: 'sqlite', path };
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  if (uri.startsWith('postgresql://') || uri.startsWith('postgres://')) {
    try {
      new URL(uri);
    } catch {
      throw new StoreUriError(`Invalid PostgreSQL URI '${uri}': write postgresql://user[:password]@host[:port]/database.`);
    }
    return { kind: 'postgres', connectionString: uri };
  }
  throw new StoreUriError(`Unsupported backend store URI '${uri}': use sqlite:///path.db or postgresql://user@host:port/database.`);
}

/**
 * Opens the store a URI names and brings its schema up to date.
 *
 * @example
 * const store = await createStore('sqlite:///threadline.db');
 */
export async function createStore(uri: string, cwd?: string): Promise<KyselyTraceStore> {
  return openStore(parseStoreUri(uri, cwd));
}

/** What every store takes, whichever database it opens. */
export interface StoreOptions {
  /**
   * Longest a query may run before it is stopped: PostgreSQL's `statement_timeout` (default
   * 30 s), SQLite's search time limit (default 10 s; searches there share two cores with ingest).
   */
  queryTimeoutMillis?: number;
}

/** Opens the store at an already parsed location. */
export async function openStore(location: StoreLocation, options: StoreOptions = {}): Promise<KyselyTraceStore> {
  if (location.kind === 'sqlite') {
    return openSqliteStore({ path: location.path, ...(options.queryTimeoutMillis !== undefined ? { searchTimeLimitMillis: options.queryTimeoutMillis } : {}) });
  }
  return openPostgresStore({ connectionString: location.connectionString, ...options });
}
