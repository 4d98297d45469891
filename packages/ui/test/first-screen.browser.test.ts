import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/server.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { launchBrowser } from '../scripts/browser.mjs';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace, request } from '../scripts/seed.mjs';
import { chromiumForSuite, ensureBuilt } from './browser-setup.js';

/**
 * Issue 15, item 4: the first screen of a new user. An empty server shows how to send a first
 * trace (this server's address and experiment filled in), not "No traces match."; once the data
 * is in another experiment (the demo's), `/` lists the experiments instead of an empty default.
 */
const available = chromiumForSuite('the first screen');

describe.runIf(available)('the first screen', () => {
  let server: RunningServer;
  let browser: { context: { newPage(): Promise<Page> }; close(): Promise<void> };
  let page: Page;

  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('tells a newcomer on an empty server how to send a first trace, with this server and experiment filled in', async () => {
    await page.goto(`${server.url}/`);
    const help = page.getByTestId('first-trace-help');
    await help.waitFor();
    const text = await help.textContent();
    expect(text).toContain(`trackingUri: '${server.url}'`);
    expect(text).toContain(`${server.url}/v1/traces`);
    expect(text).toContain("experimentId: '0'");
    expect(await page.getByText('No traces match.').count()).toBe(0);
  });

  it('opens the list of experiments when the data is in another one than the default', async () => {
    const created = (await request(server.url, 'POST', '/api/2.0/mlflow/experiments/create', { name: 'chat-app-demo' })) as { experiment_id: string };
    await logTrace(server.url, { experimentId: created.experiment_id, user: 'alice', session: 's', startMs: Date.now(), durationMs: 5, inputs: 'hi', outputs: 'hello' });
    await page.goto(`${server.url}/`);
    await page.waitForURL(`${server.url}/experiments`);
    await page.getByText('chat-app-demo').first().waitFor();
  });
});
