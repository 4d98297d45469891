import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace } from '../scripts/seed.mjs';
import { chromiumForSuite, useServerAndPage } from './browser-setup.js';

/**
 * What LLM calls cost, on every screen that counts them. Prices: gpt-4o-mini from the bundled
 * table ($0.15 / $0.60 per million input / output tokens), acme-large an operator's price
 * ($2 / $8), my-private-model none. So: alice's two turns $0.00045 and $0.00048 (session
 * $0.00093), bob's one $0.027 plus an unpriced call, dave's $0.036, carol's nothing; $0.06393 in all.
 */
const available = chromiumForSuite('cost in the web UI');

const HOUR = 3_600_000;
// Whole hours, so that the model rollup's hours are the range asked for.
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
const WINDOW = `from=${T0 - HOUR}&to=${T0 + 2 * HOUR}`;

/** A turn whose root span wraps the given model calls, each `[model, input tokens, output tokens]`. */
function turn(user: string, session: string, startMs: number, calls: [string, number, number][]) {
  return {
    user,
    session,
    startMs,
    spans: [
      { name: 'answer', type: 'CHAIN', startMs, endMs: startMs + 900, inputs: `question from ${user}`, outputs: 'an answer' },
      ...calls.map(([model, input, output], i) => ({
        name: `call ${model}`,
        type: 'CHAT_MODEL',
        startMs: startMs + 10 + i * 200,
        endMs: startMs + 200 + i * 200,
        llm: { model, provider: model === 'gpt-4o-mini' ? 'openai' : 'acme', input, output },
      })),
    ],
  };
}

describe.runIf(available)('cost in the web UI', () => {
  const ids: Record<string, string> = {};
  const t = useServerAndPage(async (url) => {
    await t.server.store.pricing.set({ model: 'acme-large', inputPerMtok: 2, outputPerMtok: 8, cacheReadPerMtok: null, cacheWritePerMtok: null, updatedTimeMs: T0, updatedBy: 'test' });
    ids.alice1 = await logTrace(url, turn('alice', 'conv-a', T0, [['gpt-4o-mini', 1000, 500]]));
    ids.alice2 = await logTrace(url, turn('alice', 'conv-a', T0 + 60_000, [['gpt-4o-mini', 2000, 300]]));
    ids.bob = await logTrace(url, turn('bob', 'conv-b', T0 + 120_000, [['gpt-4o-mini', 100_000, 20_000], ['my-private-model', 500, 100]]));
    ids.dave = await logTrace(url, turn('dave', 'conv-d', T0 + 180_000, [['acme-large', 10_000, 2_000]]));
    ids.carol = await logTrace(url, { user: 'carol', session: 'conv-c', startMs: T0 + 240_000, durationMs: 50, inputs: 'no model here', outputs: 'ok' });
  });
  const rowOf = (table: string, text: string) => t.page.getByTestId(table).locator('[role="row"]', { hasText: text });
  /** A table's cells in the column headed `header`, top to bottom. */
  const column = async (table: string, header: string): Promise<string[]> =>
    t.page.getByTestId(table).evaluate((el, name) => {
      const headers = [...el.querySelectorAll('[role="columnheader"]')].map((h) => h.textContent?.trim());
      const index = headers.indexOf(name);
      return [...el.querySelectorAll('.vtable-body [role="row"]')].map((row) => row.querySelectorAll('[role="gridcell"]')[index]?.textContent?.trim() ?? '');
    }, header);

  it('lists each trace with its cost, sorts the most expensive first and filters the expensive ones', async () => {
    await t.page.goto(`${t.server.url}/experiments/0/traces?sort=costliest`);
    await expect.poll(() => column('traces-table', 'Cost')).toEqual(['$0.036', '$0.027', '$0.00048', '$0.00045', '–']);
    expect(await rowOf('traces-table', 'bob').locator('[title="$0.015 in · $0.012 out"]').count()).toBe(1);

    await t.page.getByTestId('quick-cost').selectOption({ label: '> $0.01' });
    await expect.poll(() => t.page.url()).toContain('cost=0.01');
    await expect.poll(() => column('traces-table', 'Cost')).toEqual(['$0.036', '$0.027']);
  });

  it('lists sessions and users with their cost, and sorts them by it on the server', async () => {
    await t.page.goto(`${t.server.url}/experiments/0/sessions`);
    await t.page.getByRole('combobox', { name: 'Sort' }).selectOption({ label: 'Most expensive' });
    await expect.poll(() => t.page.url()).toContain('order=cost+DESC');
    await expect.poll(() => column('sessions-table', 'Session')).toEqual(['conv-d', 'conv-b', 'conv-a', 'conv-c']);
    expect(await column('sessions-table', 'Cost')).toEqual(['$0.036', '$0.027', '$0.00093', '–']);

    await t.page.goto(`${t.server.url}/experiments/0/users?order=cost+DESC`);
    await expect.poll(() => column('users-table', 'User')).toEqual(['dave', 'bob', 'alice', 'carol']);
    expect(await column('users-table', 'Cost')).toEqual(['$0.036', '$0.027', '$0.00093', '–']);
  });

  it("shows a session's cost and each turn's", async () => {
    await t.page.goto(`${t.server.url}/experiments/0/sessions/conv-a`);
    const cost = t.page.locator('.stat', { hasText: 'Cost' });
    await expect.poll(() => cost.textContent()).toBe('Cost$0.00093$0.000465 per turn');
    expect(await t.page.getByTestId('turn-cost').allTextContents()).toEqual(['· $0.00045', '· $0.00048']);
    expect(await t.page.getByTestId('turn-cost').first().getAttribute('title')).toBe('$0.00015 in · $0.0003 out');
  });

  it("shows a trace's cost with its parts, and each priced LLM span's in the tree and its details", async () => {
    await t.page.goto(`${t.server.url}/experiments/0/traces/${ids.bob}`);
    await expect.poll(() => t.page.locator('.stat', { hasText: 'Cost' }).textContent()).toBe('Cost$0.027$0.015 in · $0.012 out');
    const tree = t.page.getByTestId('span-tree');
    expect(await tree.locator('[role="treeitem"]', { hasText: 'call gpt-4o-mini' }).locator('.span-cost').textContent()).toBe('$0.027');
    // No price for this model: no cost, rather than $0.
    expect(await tree.locator('[role="treeitem"]', { hasText: 'call my-private-model' }).locator('.span-cost').count()).toBe(0);
    await tree.locator('[role="treeitem"]', { hasText: 'call gpt-4o-mini' }).click();
    await expect.poll(() => t.page.getByTestId('span-call').textContent()).toBe('gpt-4o-mini · 120,000 tokens (100,000 in · 20,000 out) · $0.027 ($0.015 in · $0.012 out)');
    await tree.locator('[role="treeitem"]', { hasText: 'call my-private-model' }).click();
    await expect.poll(() => t.page.getByTestId('span-call').textContent()).toBe('my-private-model · 600 tokens (500 in · 100 out)');
  });

  it("charts the range's cost, its cost by model with the unpriced calls, and its top users and sessions by cost", async () => {
    await t.page.goto(`${t.server.url}/experiments/0/overview?${WINDOW}`);
    await expect.poll(() => t.page.locator('.stat', { hasText: 'Cost' }).textContent()).toBe('Cost$0.0639$0.0128 per trace');
    await expect.poll(() => t.page.getByTestId('chart-cost').locator('.u-legend .u-value').allTextContents()).toContain('$0.036');

    const models = t.page.getByTestId('model-costs');
    await expect.poll(() => models.getByTestId('model-row').allTextContents()).toEqual([
      'acme-large1012k$0.036',
      'gpt-4o-mini30123.8k$0.0279',
      'my-private-model11600$0.00',
    ]);
    expect(await models.getByTestId('model-row').nth(1).locator('td').nth(3).getAttribute('title')).toBe('103,000 in · 20,800 out');
    expect(await models.getByTestId('unpriced-note').textContent()).toBe('1 call not priced: no price is known for its model, so the costs above leave it out.');
    expect(await models.getByText('Counted by the hour').count()).toBe(0);

    const users = t.page.getByTestId('top-users-by-cost');
    await expect.poll(() => users.getByTestId('spender-row').allTextContents()).toEqual(['dave1$0.03656%', 'bob1$0.02742%', 'alice2$0.000931%']);
    const sessions = t.page.getByTestId('top-sessions-by-cost');
    await expect.poll(() => sessions.getByTestId('spender-row').allTextContents()).toEqual(['conv-d1$0.03656%', 'conv-b1$0.02742%', 'conv-a2$0.000931%']);
    await users.getByRole('link', { name: 'bob' }).click();
    await expect.poll(() => t.page.url()).toContain('/users/bob');
  });

  it("charts a user's spend over their life", async () => {
    await t.page.goto(`${t.server.url}/experiments/0/users/alice`);
    await expect.poll(() => t.page.locator('.stat', { hasText: 'Cost' }).textContent()).toBe('Cost$0.00093$0.000465 per trace');
    // The legend reads the latest bucket with a cost: alice's second turn.
    await expect.poll(() => t.page.getByTestId('chart-cost').locator('.u-legend .u-value').allTextContents()).toContain('$0.00048');
  });
});
