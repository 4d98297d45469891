import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { createApp, type AppOptions } from '../../src/http/app.js';
import type { KyselyTraceStore } from '../../src/store/kysely-store.js';
import type { TestDatabase } from './databases.js';

export const JSON_HEADERS = { 'content-type': 'application/json', 'user-agent': 'node' };

export interface TestApp {
  app: FastifyInstance;
  store: KyselyTraceStore;
  /** POST a JSON body, the way the MLflow SDKs do. */
  post(url: string, body: unknown): Promise<LightMyRequestResponse>;
  get(url: string): Promise<LightMyRequestResponse>;
}

/**
 * The HTTP app on a fresh store of `database` for the enclosing suite, through `inject()` (no
 * socket), with `options` besides the store. Its fields are filled in `beforeAll`, so read them
 * inside tests.
 */
export function useTestApp(database: TestDatabase, options: Omit<AppOptions, 'store'> = {}): TestApp {
  const t = {} as TestApp;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const opened = await database.open();
    const app = await createApp({ ...options, store: opened.store });
    close = async () => {
      await app.close();
      await opened.close();
    };
    Object.assign(t, {
      app,
      store: opened.store,
      post: (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: JSON_HEADERS, payload: body as string }),
      get: (url: string) => app.inject({ method: 'GET', url, headers: { 'content-type': 'application/json' } }),
    });
  });
  afterAll(async () => close?.());
  return t;
}
