import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace, request } from '../scripts/seed.mjs';
import { chromiumForSuite, useServerAndPage } from './browser-setup.js';

/**
 * Issue 15, item 4: the first screen of a new user. An empty server shows how to send a first
 * trace (this server's address and experiment filled in), not "No traces match."; once the data
 * is in another experiment (the demo's), `/` lists the experiments instead of an empty default.
 */
const available = chromiumForSuite('the first screen');

describe.runIf(available)('the first screen', () => {
  const t = useServerAndPage();

  it('tells a newcomer on an empty server how to send a first trace, with this server and experiment filled in', async () => {
    await t.page.goto(`${t.server.url}/`);
    const help = t.page.getByTestId('first-trace-help');
    await help.waitFor();
    const text = await help.textContent();
    expect(text).toContain(`trackingUri: '${t.server.url}'`);
    expect(text).toContain(`${t.server.url}/v1/traces`);
    expect(text).toContain("experimentId: '0'");
    expect(await t.page.getByText('No traces match.').count()).toBe(0);
  });

  it('opens the list of experiments when the data is in another one than the default', async () => {
    const created = (await request(t.server.url, 'POST', '/api/2.0/mlflow/experiments/create', { name: 'chat-app-demo' })) as { experiment_id: string };
    await logTrace(t.server.url, { experimentId: created.experiment_id, user: 'alice', session: 's', startMs: Date.now(), durationMs: 5, inputs: 'hi', outputs: 'hello' });
    await t.page.goto(`${t.server.url}/`);
    await t.page.waitForURL(`${t.server.url}/experiments`);
    await t.page.getByText('chat-app-demo').first().waitFor();
  });
});
