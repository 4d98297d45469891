import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/server.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { launchBrowser } from '../scripts/browser.mjs';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace, request } from '../scripts/seed.mjs';
import { chromiumForSuite, ensureBuilt } from './browser-setup.js';

const available = chromiumForSuite('web UI in Chromium');
const XSS = '<img src=x onerror=alert(1)>';

const T0 = Date.parse('2026-11-20T10:00:00Z');
const chatSpans = (start: number, question: string, answer: string, extra: Record<string, unknown>[] = []) => [
  { name: 'agent', type: 'AGENT', startMs: start, endMs: start + 900, inputs: { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: question }] }, outputs: { choices: [{ message: { role: 'assistant', content: answer } }] } },
  { name: 'search_docs', type: 'TOOL', startMs: start + 10, endMs: start + 200, inputs: { query: question }, outputs: { hits: 2 } },
  { name: 'llm', type: 'CHAT_MODEL', startMs: start + 210, endMs: start + 890, inputs: { model: 'gpt-4o-mini' }, outputs: { text: answer } },
  ...extra,
];

describe.runIf(available)('web UI in Chromium', () => {
  let server: RunningServer;
  let browser: { context: BrowserContext; close(): Promise<void> };
  let page: Page;
  const dialogs: string[] = [];
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
    const turns = [
      ['What is Threadline?', 'A tracing platform.'],
      ['Does it do sessions?', 'Yes, first-class.'],
      ['And users?', 'Those too.'],
    ] as const;
    for (const [i, [q, a]] of turns.entries()) {
      ids[`turn${i + 1}`] = await logTrace(server.url, { user: 'alice', session: 'conv-1', startMs: T0 + i * 60_000, spans: chatSpans(T0 + i * 60_000, q, a), tokens: [10, 5], tags: { env: 'dev' } });
    }
    ids.obrien = await logTrace(server.url, { user: "o'brien", session: 'conv-2', startMs: T0 + 500_000, spans: chatSpans(T0 + 500_000, 'Quote test', 'Fine.'), tokens: [3, 2] });
    ids.bob = await logTrace(server.url, { user: 'bob', session: 'conv-3', startMs: T0 + 600_000, spans: chatSpans(T0 + 600_000, 'Hello from bob', 'Hi bob.') });
    ids.xss = await logTrace(server.url, {
      user: 'mallory',
      session: 'conv-xss',
      startMs: T0 + 700_000,
      requestPreview: XSS,
      responsePreview: XSS,
      spans: chatSpans(T0 + 700_000, XSS, `reply ${XSS}`),
      tags: { note: XSS },
    });
    // A session longer than one page of turns (50), to see that none is left out.
    for (let i = 0; i < 55; i++) {
      await logTrace(server.url, { user: 'carol', session: 'long-conv', startMs: T0 + 1_000_000 + i * 1000, durationMs: 500, inputs: { messages: [{ role: 'user', content: `question ${i + 1}` }] }, outputs: `answer ${i + 1}` });
    }
    // More traces than one page of the table (200), for infinite scroll over page tokens.
    for (let batch = 0; batch < 11; batch++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => logTrace(server.url, { user: 'bulk', startMs: T0 - 10_000_000 + (batch * 20 + i) * 1000, durationMs: 10, inputs: `bulk ${batch * 20 + i}`, outputs: 'ok' })));
    }
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const rows = () => page.locator('[data-testid="traces-table"] [role="row"][data-index]');

  it('filters traces by user with a quick filter (quote escaped), keyboard: / focuses the filter, Enter opens a row', async () => {
    await page.goto(`${server.url}/experiments/0/traces`);
    // Rows are virtualised: the count says how many are loaded.
    await expect.poll(() => page.getByTestId('trace-count').textContent()).toBe('200 traces loaded, more on scroll');
    await page.getByTestId('quick-user').fill("o'brien");
    await page.getByTestId('quick-user').press('Enter');
    await expect.poll(() => rows().count()).toBe(1);
    expect(await rows().first().textContent()).toContain("o'brien");
    expect(new URL(page.url()).searchParams.get('user')).toBe("o'brien");
    // The filter the server saw doubles the quote.
    expect(await page.locator('.effective-filter').textContent()).toContain("'o''brien'");

    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('filter-input');
    await rows().first().focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/traces/${ids.obrien}`);
  });

  it('opens a session from the list and reads its turns in order', async () => {
    await page.goto(`${server.url}/experiments/0/sessions`);
    const sessionRows = page.locator('[data-testid="sessions-table"] [role="row"][data-index]');
    await expect.poll(() => sessionRows.count()).toBe(5);
    await sessionRows.getByRole('link', { name: 'conv-1', exact: true }).click();
    await page.waitForURL('**/sessions/conv-1');
    const turns = page.getByTestId('turn');
    await expect.poll(() => turns.count()).toBe(3);
    await expect.poll(() => page.locator('[data-testid="turn"] .role-user .bubble-text').allTextContents()).toEqual(['What is Threadline?', 'Does it do sessions?', 'And users?']);
    expect(await page.locator('[data-testid="turn"] .role-assistant .bubble-text').allTextContents()).toEqual(['A tracing platform.', 'Yes, first-class.', 'Those too.']);
    expect(await page.locator('.turns-end').textContent()).toContain('3 turns, all shown');
    await turns.nth(1).getByText('Open trace').click();
    await page.waitForURL(`**/traces/${ids.turn2}`);
  });

  it('scrolls the traces table through every page (keyset page tokens)', async () => {
    await page.goto(`${server.url}/experiments/0/traces?user=bulk`);
    const count = page.getByTestId('trace-count');
    await expect.poll(() => count.textContent()).toBe('200 traces loaded, more on scroll');
    const scrollToEnd = () => page.locator('.vtable-body').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await expect.poll(async () => (await scrollToEnd(), count.textContent()), { timeout: 5000 }).toBe('220 traces');
    await expect.poll(async () => (await scrollToEnd(), page.locator('[data-testid="traces-table"] [role="row"][data-index]').last().textContent()), { timeout: 5000 }).toContain('bulk 0');
  });

  it('pages through a session longer than one page of turns, none left out', async () => {
    await page.goto(`${server.url}/experiments/0/sessions/long-conv`);
    const users = page.locator('[data-testid="turn"] .role-user .bubble-text');
    await expect.poll(() => users.count()).toBeGreaterThanOrEqual(50);
    // Turn heights change as their spans arrive: scroll to the end until the last page is in.
    await expect
      .poll(async () => {
        await page.locator('.turns-end').scrollIntoViewIfNeeded();
        return users.count();
      }, { timeout: 5000 })
      .toBe(55);
    const texts = await users.allTextContents();
    expect(texts).toEqual(Array.from({ length: 55 }, (_, i) => `question ${i + 1}`));
    await expect.poll(() => page.locator('.turns-end').textContent()).toContain('55 turns, all shown');
  });

  it("opens a trace's span tree and a span's inputs", async () => {
    await page.goto(`${server.url}/experiments/0/traces/${ids.turn1}`);
    const items = page.locator('[data-testid="span-tree"] [role="treeitem"]');
    await expect.poll(() => items.count()).toBe(3);
    expect(await items.locator('.span-name .ellipsis').allTextContents()).toEqual(['agent', 'search_docs', 'llm']);
    expect(await items.nth(1).getAttribute('aria-level')).toBe('2');
    await items.nth(1).click();
    await page.getByRole('tab', { name: 'Inputs / Outputs' }).click();
    await expect.poll(() => page.getByTestId('span-inputs').textContent()).toContain('What is Threadline?');
    // The root span's chat renders as messages.
    await items.nth(0).click();
    await page.getByRole('tab', { name: 'Chat' }).click();
    await expect.poll(() => page.locator('[data-testid="span-detail"] .bubble-text').allTextContents()).toEqual(['Be brief.', 'What is Threadline?', 'A tracing platform.']);
    expect(await page.locator('.metadata').getByRole('link', { name: 'alice' }).getAttribute('href')).toBe('/experiments/0/users/alice');
  });

  it('adds and removes a tag inline', async () => {
    await page.goto(`${server.url}/experiments/0/traces/${ids.turn3}`);
    await page.locator('.trace-tags').getByTestId('tag-add').click();
    await page.locator('.trace-tags').getByTestId('tag-input').fill('reviewed=yes it is');
    await page.locator('.trace-tags').getByTestId('tag-input').press('Enter');
    await expect.poll(() => page.locator('.trace-tags .tag').allTextContents()).toContain('reviewedyes it is×');
    const stored = await request(server.url, 'GET', `/api/3.0/mlflow/traces/${ids.turn3}`);
    expect(stored.trace.trace_info.tags.reviewed).toBe('yes it is');
    await page.getByRole('button', { name: 'Remove tag reviewed' }).click();
    await expect.poll(async () => (await request(server.url, 'GET', `/api/3.0/mlflow/traces/${ids.turn3}`)).trace.trace_info.tags.reviewed).toBeUndefined();
    await expect.poll(() => page.locator('.trace-tags .tag').count()).toBe(1);
  });

  it("shows a bad filter's error and marks the offending token", async () => {
    await page.goto(`${server.url}/experiments/0/traces`);
    const input = page.getByTestId('filter-input');
    await input.fill("trace.status = 'OK' tags.a = 'x'");
    await input.press('Enter');
    await expect.poll(() => page.getByTestId('filter-error').isVisible()).toBe(true);
    expect(await page.getByTestId('filter-error').textContent()).toContain('position 20');
    expect(await page.getByTestId('filter-error-token').textContent()).toBe('tags.a');
    // With a quick filter too, the position still lands in the typed text.
    await page.getByTestId('quick-state').selectOption('OK');
    await expect.poll(() => page.getByTestId('filter-error-token').textContent()).toBe('tags.a');
    expect(await rows().count()).toBe(0);
  });

  it('renders untrusted trace content as text: no element, no script', async () => {
    for (const path of [`/experiments/0/traces/${ids.xss}`, '/experiments/0/sessions/conv-xss', `/experiments/0/traces?user=mallory`]) {
      await page.goto(server.url + path);
      await expect.poll(() => page.getByText(XSS, { exact: true }).first().isVisible()).toBe(true);
      expect(await page.locator('img').count()).toBe(0);
    }
    await page.goto(`${server.url}/experiments/0/traces/${ids.xss}`);
    await page.getByRole('tab', { name: 'Inputs / Outputs' }).click();
    await expect.poll(() => page.getByTestId('span-inputs').textContent()).toContain(XSS);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => document.body.innerHTML.includes('<img'))).toBe(false);
    expect(dialogs).toEqual([]);
  });

  it('charts the overview by user over a fixed window, and opens a user page with its activity', async () => {
    const HOUR = 3_600_000;
    // 60 hours from a whole hour: one-hour buckets, so the server answers from its hourly rollup.
    await page.goto(`${server.url}/experiments/0/overview?from=${T0 - 48 * HOUR}&to=${T0 + 12 * HOUR}&group=user`);
    const stat = (label: string) => page.locator('.stat', { has: page.locator('.stat-label', { hasText: label }) }).locator('.stat-value');
    // 3 alice + o'brien + bob + mallory + 55 carol + 220 bulk.
    await expect.poll(() => stat('Traces').textContent()).toBe('281');
    for (const chart of ['chart-traces', 'chart-latency', 'chart-tokens', 'chart-groups']) {
      await expect.poll(() => page.getByTestId(chart).locator('canvas').count(), { message: chart }).toBeGreaterThan(0);
    }
    const groups = page.locator('.plain-table tbody tr');
    expect(await groups.first().textContent()).toMatch(/^bulk220/);
    await groups.filter({ hasText: 'alice' }).getByRole('link').click();
    await page.waitForURL(/\/users\/alice/);
    await expect.poll(() => stat('Traces').textContent()).toBe('3');
    expect(await stat('Sessions').textContent()).toBe('1');
    await expect.poll(() => page.getByTestId('chart-traces').locator('canvas').count()).toBeGreaterThan(0);
  });
});
