import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/server.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { chromiumAvailable, launchBrowser } from '../scripts/browser.mjs';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace } from '../scripts/seed.mjs';

/**
 * What a hostile web page can do to a Threadline server on the developer's laptop, tried in a
 * real browser: a page on another origin sends the "simple" requests that need no CORS
 * preflight (a text/plain fetch, a form post) to delete every trace, and a page whose DNS name
 * is rebound to 127.0.0.1 reads the API as its own origin. All are refused; nothing is deleted.
 * (ui.browser.test.ts shows the server's own UI still works.)
 */
describe.runIf(chromiumAvailable())('a hostile web page against a server on 127.0.0.1', () => {
  let server: RunningServer;
  let evil: Server;
  let evilOrigin = '';
  let browser: { context: { newPage(): Promise<Page> }; close(): Promise<void> };
  let page: Page;
  let port = 0;

  beforeAll(async () => {
    server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
    port = Number(new URL(server.url).port);
    for (let i = 0; i < 3; i++) await logTrace(server.url, { user: 'alice', session: 'private', startMs: Date.now() - i * 1000, durationMs: 5, inputs: `secret ${i}`, outputs: 'ok' });
    // Another origin: another loopback address and port.
    evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>evil</title>'));
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.2', resolve));
    evilOrigin = `http://127.0.0.2:${(evil.address() as AddressInfo).port}`;
    // evil.test resolves to this machine, as a rebinding attacker's name would after its TTL.
    browser = await launchBrowser({ extraArgs: ['--host-resolver-rules=MAP evil.test 127.0.0.1'] });
    page = await browser.context.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    evil?.close();
    await server?.close();
  });

  const traceCount = async () => (await server.store.searchTraces({ experimentIds: ['0'], maxResults: 100 })).traces.length;

  it('refuses the no-preflight requests of a page on another origin', async () => {
    await page.goto(`${evilOrigin}/`);
    const target = `http://127.0.0.1:${port}/api/3.0/mlflow/traces/delete-traces`;
    const body = JSON.stringify({ experiment_id: '0', max_timestamp_millis: Date.now() + 1e9 });
    // A plain fetch: text/plain is a "simple" request, sent without asking the server first.
    await page.evaluate(async ({ target, body }) => {
      await fetch(target, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body }).catch(() => undefined);
    }, { target, body });
    // A form post whose one field spells the JSON body, the classic way around content types.
    await page.evaluate(({ target, body }) => {
      const form = document.createElement('form');
      form.method = 'POST';
      form.action = target;
      form.enctype = 'text/plain';
      const input = document.createElement('input');
      input.name = body.slice(0, -1) + ',"x":"';
      input.value = '"}';
      form.append(input);
      document.body.append(form);
      form.submit();
    }, { target, body });
    await page.waitForURL(target);
    expect(await page.textContent('body')).toMatch(/PERMISSION_DENIED|application\/json/);
    expect(await traceCount()).toBe(3);
  });

  it('refuses a rebound DNS name, for the UI and the API', async () => {
    const response = await page.goto(`http://evil.test:${port}/`);
    expect(response?.status()).toBe(403);
    const read = await page.evaluate(async (url) => {
      const reply = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }] }) });
      return { status: reply.status, text: await reply.text() };
    }, `http://evil.test:${port}/api/3.0/mlflow/traces/search`);
    expect(read.status).toBe(403);
    expect(read.text).not.toMatch(/secret/);
    expect(await traceCount()).toBe(3);
  });
});
