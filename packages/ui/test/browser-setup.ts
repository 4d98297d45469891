// What every browser test file needs before its first page: Chromium (or a clear skip), and a
// current build of the UI for the server to serve.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/server.js';
import { createPostgresSchema } from '../../server/test/support/databases.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { chromiumAvailable, CHROMIUM_PATH, launchBrowser } from '../scripts/browser.mjs';

const uiDir = fileURLToPath(new URL('..', import.meta.url));

/**
 * Whether Chromium is here. Without it the suite is skipped with a warning, or, with
 * THREADLINE_REQUIRE_BROWSER=1, fails with a test that says why.
 */
export function chromiumForSuite(suite: string): boolean {
  const available: boolean = chromiumAvailable();
  if (available) return true;
  const notice = `Browser tests: no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`;
  if (process.env.THREADLINE_REQUIRE_BROWSER === '1') {
    describe(suite, () => {
      it('needs Chromium (THREADLINE_REQUIRE_BROWSER=1)', () => {
        throw new Error(`${notice}; THREADLINE_REQUIRE_BROWSER=1 makes this a failure.`);
      });
    });
  } else {
    console.warn(`\n*** ${notice}: SKIPPED. Set THREADLINE_REQUIRE_BROWSER=1 to make this a failure. ***\n`);
  }
  return false;
}

/**
 * Builds the UI when dist is missing or older than a source file, so tests never run a stale build.
 * Call it before starting the server: the server reads the build once, when it starts.
 */
export async function ensureBuilt(): Promise<void> {
  const index = join(uiDir, 'dist', 'index.html');
  const newest = (dir: string): number =>
    readdirSync(dir).reduce((m, name) => {
      const p = join(dir, name);
      const s = statSync(p);
      return Math.max(m, s.isDirectory() ? newest(p) : s.mtimeMs);
    }, 0);
  // The UI bundles the server's filter lexer and word rules too (src/word-search.ts).
  const serverModules = ['query', 'text-search'].map((dir) => newest(join(uiDir, '..', 'server', 'src', dir)));
  const sourceTime = Math.max(newest(join(uiDir, 'src')), statSync(join(uiDir, 'index.html')).mtimeMs, ...serverModules);
  if (existsSync(index) && statSync(index).mtimeMs >= sourceTime) return;
  const { build } = await import('vite');
  await build({ root: uiDir, logLevel: 'warn', configFile: join(uiDir, 'vite.config.ts') });
}

/** What {@link useServerAndPage} hands a suite: filled in before its first test. */
export interface ServerAndPage {
  server: RunningServer;
  page: Page;
}

/**
 * For the enclosing suite: a current UI build, a real server on an in-memory SQLite store (or, with
 * `database: 'postgres'`, on a schema of its own in the tests' PostgreSQL, TEST_POSTGRES_URL,
 * dropped after; check `postgresOk` first), after `seed` has logged what the suite needs, and one
 * Chromium page; all closed after the suite.
 *
 * @example
 * const t = useServerAndPage(async (url) => { await logTrace(url, { user: 'alice', ... }); });
 * it('...', async () => { await t.page.goto(`${t.server.url}/`); });
 */
export function useServerAndPage(seed: (serverUrl: string) => Promise<void> = async () => {}, { database = 'sqlite' }: { database?: 'sqlite' | 'postgres' } = {}): ServerAndPage {
  const t = {} as ServerAndPage;
  let browser: { context: { newPage(): Promise<Page> }; close(): Promise<void> } | undefined;
  let dropSchema: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    await ensureBuilt();
    let backendStoreUri = 'sqlite:///:memory:';
    if (database === 'postgres') {
      const schema = await createPostgresSchema();
      [backendStoreUri, dropSchema] = [schema.uri, schema.drop];
    }
    t.server = await startServer({ backendStoreUri, port: 0 });
    await seed(t.server.url);
    browser = await launchBrowser();
    t.page = await browser!.context.newPage();
    t.page.setDefaultTimeout(10_000);
  });
  afterAll(async () => {
    await browser?.close();
    await t.server?.close();
    await dropSchema?.();
  });
  return t;
}
