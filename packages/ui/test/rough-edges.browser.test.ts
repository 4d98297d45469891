import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/server.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { launchBrowser } from '../scripts/browser.mjs';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace } from '../scripts/seed.mjs';
import { chromiumForSuite, ensureBuilt } from './browser-setup.js';

/**
 * The rough edges of issue 15 that the UI alone can smooth, each tried as a new user met it.
 * (ui.browser.test.ts covers what already worked.)
 */
const available = chromiumForSuite('rough edges of the web UI');

const T0 = Date.parse('2026-11-20T10:00:00Z');

describe.runIf(available)('rough edges of the web UI', () => {
  let server: RunningServer;
  let browser: { context: BrowserContext; close(): Promise<void> };
  let page: Page;

  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
    for (let i = 0; i < 3; i++) {
      await logTrace(server.url, { user: 'alice', session: 'conv-1', startMs: T0 + i * 60_000, durationMs: 800, inputs: { message: `question ${i + 1}` }, outputs: `answer ${i + 1}` });
    }
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(async () => {
    await page?.close();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
  });

  describe('2: errors are shown where the data would be', () => {
    it('says an unknown experiment does not exist, on every list, instead of "0 traces" or "see above"', async () => {
      for (const section of ['traces', 'sessions', 'users', 'overview']) {
        await page.goto(`${server.url}/experiments/999/${section}`);
        await expect.poll(() => page.getByRole('alert').first().textContent(), { timeout: 5000 }).toContain('Could not find experiment with ID 999');
        expect(await page.locator('main').textContent(), section).not.toMatch(/0 traces|see above/);
      }
    });

    it('says the server cannot be reached, instead of counting 0 traces', async () => {
      await page.route('**/ajax-api/**', (route) => route.abort('connectionrefused'));
      for (const section of ['traces', 'sessions']) {
        await page.goto(`${server.url}/experiments/0/${section}`);
        // Network failures are retried twice (1 s, then 2 s) before they are shown.
        await expect.poll(() => page.getByRole('alert').first().textContent(), { timeout: 10_000 }).toContain('Could not reach the Threadline server');
        const main = await page.locator('main').textContent();
        expect(main, section).not.toMatch(/\b0 (traces|sessions)|see above/);
        expect(main, section).toContain('Search failed');
      }
    });
  });
});
