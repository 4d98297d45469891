import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/server.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { launchBrowser } from '../scripts/browser.mjs';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace, request } from '../scripts/seed.mjs';
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
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
    for (let i = 0; i < 3; i++) {
      ids[`alice${i + 1}`] = await logTrace(server.url, { user: 'alice', session: 'conv-1', startMs: T0 + i * 60_000, durationMs: 800, inputs: { message: `question ${i + 1}` }, outputs: `answer ${i + 1}` });
    }
    ids.text = await logTrace(server.url, {
      user: 'tree',
      startMs: T0 + 20 * 3_600_000,
      spans: [
        { name: 'agent', type: 'AGENT', startMs: T0 + 72_000_000, endMs: T0 + 72_000_500, inputs: 'go', outputs: 'done' },
        { name: 'tool', type: 'TOOL', startMs: T0 + 72_000_100, endMs: T0 + 72_000_200, inputs: 'x', outputs: 'y' },
      ],
    });
    // Two turns within one second.
    await logTrace(server.url, { user: 'bob', session: 'quick', startMs: T0 + 7_200_100, durationMs: 100, inputs: 'hi', outputs: 'hello' });
    await logTrace(server.url, { user: 'bob', session: 'quick', startMs: T0 + 7_200_400, durationMs: 150, inputs: 'bye', outputs: 'bye' });
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

  /** How many pixels of a chart's canvas are drawn in a series' colour (a CSS custom property). */
  const seriesPixels = (p: Page, testId: string, color: string): Promise<number> =>
    p.getByTestId(testId).evaluate((el, cssVar) => {
      const probe = document.createElement('span');
      probe.style.color = `var(${cssVar})`;
      el.appendChild(probe);
      const [r, g, b] = getComputedStyle(probe).color.match(/\d+/g)!.map(Number) as [number, number, number];
      probe.remove();
      const canvas = el.querySelector('canvas')!;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i + 3]! > 200 && Math.abs(data[i]! - r) + Math.abs(data[i + 1]! - g) + Math.abs(data[i + 2]! - b) < 60) n++;
      return n;
    }, color);

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

  describe('5: loading does not look like data', () => {
    /** Holds every request to `pattern` until the returned function lets them through. */
    const hold = async (pattern: string): Promise<() => Promise<void>> => {
      const held: Route[] = [];
      let open = false;
      await page.route(pattern, (route) => (open ? route.continue() : void held.push(route)));
      return async () => {
        open = true;
        await Promise.all(held.map((r) => r.continue()));
      };
    };

    it('shows the overview cards as loading, not as zeros, until the numbers come', async () => {
      const release = await hold('**/threadline/traces/metrics');
      await page.goto(`${server.url}/experiments/0/overview?from=${T0 - 3_600_000}&to=${T0 + 3_600_000}`);
      const values = page.locator('.stat .stat-value');
      await expect.poll(() => values.count()).toBeGreaterThanOrEqual(4);
      expect(await values.allTextContents()).not.toContain('0');
      expect(await page.locator('.stats[aria-busy="true"]').count()).toBe(1);
      expect(await page.getByRole('status', { name: 'Loading' }).count()).toBeGreaterThanOrEqual(4);
      await release();
      const traces = page.locator('.stat', { has: page.locator('.stat-label', { hasText: 'Traces' }) }).locator('.stat-value');
      await expect.poll(() => traces.textContent()).toBe('3');
      expect(await page.locator('.stats[aria-busy="true"]').count()).toBe(0);
    });

    it('shows the experiment selector as loading, not as a bare id, until the list comes', async () => {
      const release = await hold('**/2.0/mlflow/experiments/search');
      await page.goto(`${server.url}/experiments/0/traces`);
      const select = page.getByLabel('Experiment', { exact: true });
      await expect.poll(() => select.locator('option').allTextContents()).toEqual(['Loading experiments…']);
      expect(await select.getAttribute('aria-busy')).toBe('true');
      await release();
      await expect.poll(() => select.locator('option').allTextContents()).toEqual(['Default (0)']);
      expect(await select.inputValue()).toBe('0');
    });
  });

  describe('7: times', () => {
    it('names the year and the time zone, shows milliseconds where seconds collapse, and lists users with absolute times', async () => {
      // In New York, so that the zone cannot be mistaken for the server's UTC.
      const ny = await launchBrowser({ timezoneId: 'America/New_York' });
      try {
        const p = await ny.context.newPage();
        p.setDefaultTimeout(10_000);
        const stat = (label: string) => p.locator('.stat', { has: p.locator('.stat-label', { hasText: label }) });

        await p.goto(`${server.url}/experiments/0/traces/${ids.alice1}`);
        await expect.poll(() => stat('Started').locator('.stat-value').textContent()).toBe('Nov 20, 2026, 05:00:00 AM EST');

        await p.goto(`${server.url}/experiments/0/traces?user=alice`);
        const table = p.getByTestId('traces-table');
        await expect.poll(() => table.locator('[role="columnheader"]').allTextContents()).toContain('Time (EST)');
        const first = table.locator('[role="row"][data-index]').first().locator('[role="gridcell"]').nth(1);
        expect(await first.textContent()).toBe('Nov 20, 05:02:00 AM');
        expect(await first.locator('[title]').getAttribute('title')).toMatch(/^Nov 20, 2026, 05:02:00 AM EST \(\d+d ago\)$/);

        // Both turns came within one second: whole seconds would read "07:00:00 AM → 07:00:00 AM".
        await p.goto(`${server.url}/experiments/0/sessions/quick`);
        await expect.poll(() => stat('Duration').locator('.stat-sub').textContent()).toMatch(/^Nov 20, 2026, 07:00:00\.100 AM EST → 07:00:00\.\d{3} AM EST$/);
        const [from, to] = (await stat('Duration').locator('.stat-sub').textContent())!.split(' → ');
        expect(from!.slice(-10)).not.toBe(to!.slice(-10));

        await p.goto(`${server.url}/experiments/0/users`);
        const users = p.getByTestId('users-table');
        await expect.poll(() => users.locator('[role="columnheader"]').allTextContents()).toEqual(expect.arrayContaining(['First seen (EST)', 'Last seen (EST)']));
        const alice = users.locator('[role="row"][data-index]', { hasText: 'alice' }).locator('[role="gridcell"]');
        // The header comes before the rows do: wait for alice's row.
        await expect.poll(async () => (await alice.allTextContents()).slice(-2)).toEqual(['Nov 20, 05:00:00 AM', 'Nov 20, 05:02:00 AM']);
      } finally {
        await ny.close();
      }
    });
  });

  describe("1: a user's page charts the user's activity", () => {
    it('asks for enough buckets around a short life and draws them', async () => {
      const asked: { start_time_ms: number; end_time_ms: number; bucket_ms: number }[] = [];
      page.on('request', (r) => {
        if (r.url().endsWith('/threadline/traces/metrics')) asked.push(r.postDataJSON());
      });
      await page.goto(`${server.url}/experiments/0/users/alice`);
      await expect.poll(() => page.getByTestId('chart-traces').locator('canvas').count()).toBe(1);
      expect(asked).toHaveLength(1);
      const { start_time_ms: start, end_time_ms: end, bucket_ms: bucket } = asked[0]!;
      // alice's three traces, two minutes apart, around the middle of the range.
      expect(start).toBeLessThan(T0);
      expect(end).toBeGreaterThan(T0 + 120_000);
      expect((end - start) / bucket).toBeGreaterThanOrEqual(30);
      await expect.poll(() => seriesPixels(page, 'chart-traces', '--c1')).toBeGreaterThan(50);
    });
  });

  describe('3: the overview on new data', () => {
    const HOUR = 3_600_000;
    const newExperiment = async (name: string): Promise<string> => (await request(server.url, 'POST', '/api/2.0/mlflow/experiments/create', { name })).experiment_id;
    const stat = (label: string) => page.locator('.stat', { has: page.locator('.stat-label', { hasText: label }) });

    it('opens on the shortest range that holds the data, and draws it with a legend that reads', async () => {
      const exp = await newExperiment('fresh');
      const now = Date.now();
      for (let i = 0; i < 6; i++) await logTrace(server.url, { experimentId: exp, user: 'new', startMs: now - (10 - i) * 60_000, durationMs: 20 + i, inputs: 'hi', outputs: 'hello' });
      await page.goto(`${server.url}/experiments/${exp}/overview`);
      await expect.poll(() => stat('Traces').locator('.stat-value').textContent()).toBe('6');
      // Everything came in the last ten minutes: the last hour, not a week with one spike at its end.
      expect(await page.getByRole('group', { name: 'Time range' }).locator('button.active').textContent()).toBe('1h');
      expect(new URL(page.url()).searchParams.get('range')).toBeNull();
      await expect.poll(() => seriesPixels(page, 'chart-traces', '--c1')).toBeGreaterThan(50);
      await expect.poll(() => seriesPixels(page, 'chart-latency', '--c1')).toBeGreaterThan(20);
      // Away from the cursor the legend reads the latest bucket with data, not "Time: -- Traces: –".
      for (const chart of ['chart-traces', 'chart-latency', 'chart-tokens']) {
        const values = await page.getByTestId(chart).locator('.u-legend .u-value').allTextContents();
        expect(values.length, chart).toBeGreaterThan(1);
        for (const v of values) expect(v, chart).not.toMatch(/^(--|–)$/);
      }
      // A range chosen by hand stays in the address.
      await page.getByRole('group', { name: 'Time range' }).getByRole('button', { name: '7d' }).click();
      await expect.poll(() => new URL(page.url()).searchParams.get('range')).toBe('7d');
    });

    it("gives percentiles of the range's traces, not a median of the buckets' percentiles, and draws lone buckets' latency", async () => {
      const exp = await newExperiment('latency');
      // Five fast traces in the first hour, one slow trace in each of the next two.
      for (let i = 0; i < 5; i++) await logTrace(server.url, { experimentId: exp, startMs: T0 + i * 1000, durationMs: 10, inputs: 'fast', outputs: 'ok' });
      await logTrace(server.url, { experimentId: exp, startMs: T0 + HOUR, durationMs: 1000, inputs: 'slow', outputs: 'ok' });
      await logTrace(server.url, { experimentId: exp, startMs: T0 + 2 * HOUR, durationMs: 1000, inputs: 'slow', outputs: 'ok' });
      await page.goto(`${server.url}/experiments/${exp}/overview?from=${T0}&to=${T0 + 3 * HOUR}`);
      await expect.poll(() => stat('Traces').locator('.stat-value').textContent()).toBe('7');
      // Of 7 traces the median is a fast one (the medians of the 3 buckets are 10 ms, 1 s, 1 s).
      const p50 = (await stat('Latency p50').locator('.stat-value').textContent())!;
      expect(p50).toMatch(/^\d+ms$/);
      expect(parseInt(p50, 10)).toBeLessThan(20);
      expect(await stat('Latency p50').locator('.stat-sub').textContent()).toBe('of 7 traces');
      expect(await stat('Latency p95').locator('.stat-value').textContent()).toMatch(/^(9\d\dms|1\.\d\ds)$/);
      // One trace a bucket: p50, p95 and p99 are one dot, p99's on top.
      await expect.poll(() => seriesPixels(page, 'chart-latency', '--error')).toBeGreaterThan(40);
    });
  });

  describe('6: the same thing reads the same everywhere', () => {
    it("shows a request's message in the sessions list as on the session page, string outputs unescaped, and the trace's duration as its root span's", async () => {
      const start = T0 + 9 * 3_600_000;
      // As the SDK previews them: the JSON of the inputs, and of a string output (its quotes escaped).
      // The trace's duration is recorded to the millisecond, its root span's to the nanosecond.
      const id = await logTrace(server.url, {
        user: 'tx',
        session: 'text-conv',
        startMs: start,
        durationMs: 1,
        responsePreview: JSON.stringify('He said "soon".'),
        spans: [{ name: 'answer', type: 'CHAIN', startMs: start, endMs: start + 1.6, inputs: { message: 'Where is my parcel?' }, outputs: 'He said "soon".' }],
      });
      await page.goto(`${server.url}/experiments/0/sessions?q=${encodeURIComponent("session_id = 'text-conv'")}`);
      const row = page.locator('[data-testid="sessions-table"] [role="row"][data-index]');
      await expect.poll(() => row.count()).toBe(1);
      const cells = row.locator('[role="gridcell"]');
      expect(await cells.nth(1).textContent()).toBe('Where is my parcel?');
      expect(await cells.nth(2).textContent()).toBe('He said "soon".');

      await page.goto(`${server.url}/experiments/0/sessions/text-conv`);
      await expect.poll(() => page.locator('[data-testid="turn"] .bubble-text').allTextContents()).toEqual(['Where is my parcel?', 'He said "soon".']);

      await page.goto(`${server.url}/experiments/0/traces?session=text-conv`);
      const traceRow = page.locator('[data-testid="traces-table"] [role="row"][data-index]');
      await expect.poll(() => traceRow.count()).toBe(1);
      expect(await traceRow.locator('[role="gridcell"]').nth(3).textContent()).toBe('Where is my parcel?');
      expect(await traceRow.locator('[role="gridcell"]').nth(4).textContent()).toBe('He said "soon".');

      await page.goto(`${server.url}/experiments/0/traces/${id}?tab=io`);
      await expect.poll(() => page.getByTestId('span-outputs').textContent()).toBe('"He said "soon"."');
      const rootLabel = await page.locator('[data-testid="span-tree"] [role="treeitem"]').first().locator('.bar-label').textContent();
      const traceDuration = await page.locator('.stat', { has: page.locator('.stat-label', { hasText: 'Duration' }) }).locator('.stat-value').textContent();
      expect(traceDuration).toBe(rootLabel);
    });
  });

  describe('9: long text', () => {
    it('folds a 3,000-character message behind "Show more", and wraps metadata between words', async () => {
      const long = Array.from({ length: 340 }, (_, i) => `word${String(i).padStart(4, '0')}`).join(' ') + ' THE END';
      const prose = Array.from({ length: 40 }, () => 'alpha bravo charlie delta echo foxtrot').join(' ');
      const id = await logTrace(server.url, {
        user: 'verbose',
        session: 'long-msg',
        startMs: T0 + 10 * 3_600_000,
        durationMs: 50,
        inputs: { messages: [{ role: 'user', content: long }] },
        outputs: 'Noted.',
        metadata: { note: prose },
      });
      expect(long.length).toBeGreaterThan(3000);
      await page.goto(`${server.url}/experiments/0/sessions/long-msg`);
      const user = page.locator('[data-testid="turn"] .role-user');
      await expect.poll(() => user.locator('.bubble-text').textContent()).toMatch(/^word0000 word0001/);
      const folded = (await user.locator('.bubble-text').textContent())!;
      expect(folded.length).toBeLessThan(1300);
      expect(folded).not.toContain('THE END');
      const more = user.getByRole('button', { name: /Show more/ });
      expect(await more.textContent()).toBe(`Show more (${long.length.toLocaleString('en-US')} characters)`);
      expect(await more.getAttribute('aria-expanded')).toBe('false');
      await more.click();
      expect(await user.locator('.bubble-text').textContent()).toBe(long);
      await user.getByRole('button', { name: 'Show less' }).click();
      expect(await user.locator('.bubble-text').textContent()).toBe(folded);

      await page.goto(`${server.url}/experiments/0/traces/${id}`);
      const cell = page.locator('.metadata tr', { has: page.locator('th', { hasText: /^note$/ }) }).locator('td');
      await expect.poll(() => cell.textContent()).toBe(prose);
      // A word split across two lines has two boxes.
      const split = await cell.evaluate((td) => {
        const text = td.firstChild!;
        const words: string[] = [];
        for (const m of text.textContent!.matchAll(/\S+/g)) {
          const range = document.createRange();
          range.setStart(text, m.index);
          range.setEnd(text, m.index + m[0].length);
          if (range.getClientRects().length > 1) words.push(m[0]);
        }
        return { words, height: td.getBoundingClientRect().height };
      });
      expect(split.height).toBeGreaterThan(30);
      expect(split.words).toEqual([]);
    });
  });

  describe('10: layout', () => {
    it('gives the session page the width of a wide screen', async () => {
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.goto(`${server.url}/experiments/0/sessions/conv-1`);
      await expect.poll(() => page.getByTestId('turn').count()).toBe(3);
      const conversation = (await page.getByTestId('conversation').boundingBox())!;
      const stats = (await page.locator('.stats').boundingBox())!;
      // As wide as the page's content (the stats row spans it), not ~60% of the screen.
      expect(conversation.width).toBeGreaterThan(0.9 * 1440 - 40);
      expect(Math.abs(conversation.width - stats.width)).toBeLessThan(2);
    });

    it('keeps the request column in view at 390 px, and every column at 1440 px', async () => {
      const headers = () => page.locator('[data-testid="traces-table"] [role="columnheader"]');
      const requestCell = () => page.locator('[data-testid="traces-table"] [role="row"][data-index]').first().locator('[role="gridcell"]', { hasText: 'question' });
      await page.setViewportSize({ width: 390, height: 800 });
      await page.goto(`${server.url}/experiments/0/traces?user=alice`);
      await expect.poll(() => headers().allTextContents()).toContain('Request');
      const header = (await headers().filter({ hasText: /^Request$/ }).boundingBox())!;
      expect(header.x + header.width).toBeLessThanOrEqual(390);
      const cell = (await requestCell().boundingBox())!;
      expect(cell.x).toBeGreaterThanOrEqual(0);
      expect(cell.x + cell.width).toBeLessThanOrEqual(390);
      expect(cell.width).toBeGreaterThan(100);
      expect(await requestCell().textContent()).toBe('question 3');
      // Nothing is cut off at the right edge: the last column shown ends inside the table.
      const table = (await page.getByTestId('traces-table').boundingBox())!;
      const last = (await headers().last().boundingBox())!;
      expect(last.x + last.width).toBeLessThanOrEqual(table.x + table.width);

      await page.setViewportSize({ width: 1440, height: 900 });
      await expect
        .poll(() => headers().allTextContents())
        .toEqual(['', 'Time (UTC)', 'Name', 'Request', 'Response', 'User', 'Session', 'State', 'Duration', 'Tokens', 'Cost', 'Tags']);
      const wideTable = (await page.getByTestId('traces-table').boundingBox())!;
      const tags = (await headers().last().boundingBox())!;
      expect(tags.x + tags.width).toBeLessThanOrEqual(wideTable.x + wideTable.width);
    });

    it('makes user ids in the users list links that open in a new tab', async () => {
      await page.goto(`${server.url}/experiments/0/users`);
      const link = page.locator('[data-testid="users-table"]').getByRole('link', { name: 'alice', exact: true });
      await expect.poll(() => link.getAttribute('href')).toBe('/experiments/0/users/alice');
      const [opened] = await Promise.all([browser.context.waitForEvent('page'), link.click({ modifiers: ['Control'] })]);
      await opened!.waitForURL('**/experiments/0/users/alice');
      await opened!.close();
      // The list itself stays where it was.
      expect(new URL(page.url()).pathname).toBe('/experiments/0/users');
    });
  });

  describe('11: keys', () => {
    const focusedRow = () => page.evaluate(() => document.activeElement?.getAttribute('data-index') ?? document.activeElement?.tagName);

    it('moves through the rows with ↑/↓ and j/k from the page, before any row has focus', async () => {
      await page.goto(`${server.url}/experiments/0/traces?user=alice`);
      await expect.poll(() => page.locator('[data-testid="traces-table"] [role="row"][data-index]').count()).toBe(3);
      await page.locator('h1').click();
      expect(await focusedRow()).toBe('BODY');
      await page.keyboard.press('j');
      await expect.poll(focusedRow).toBe('0');
      await page.keyboard.press('j');
      await page.keyboard.press('ArrowDown');
      await expect.poll(focusedRow).toBe('2');
      await page.keyboard.press('k');
      await expect.poll(focusedRow).toBe('1');
      // Away and back: the keys pick up at the row left.
      await page.locator('h1').click();
      await page.keyboard.press('ArrowDown');
      await expect.poll(focusedRow).toBe('1');
      await page.keyboard.press('Enter');
      await page.waitForURL(`**/traces/${ids.alice2}`);

      // On a trace, the keys start at the selected span.
      await page.goto(`${server.url}/experiments/0/traces/${ids.text}`);
      const items = page.locator('[data-testid="span-tree"] [role="treeitem"]');
      await expect.poll(() => items.count()).toBe(2);
      await page.locator('h1').click();
      await page.keyboard.press('j');
      await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('treeitem');
      await page.keyboard.press('j');
      await expect.poll(() => items.nth(1).getAttribute('aria-selected')).toBe('true');

      // Typing in the filter is typing, not moving.
      await page.goto(`${server.url}/experiments/0/users`);
      await expect.poll(() => page.locator('[data-testid="users-table"] [role="row"][data-index]').count()).toBeGreaterThan(1);
      await page.getByTestId('filter-input').click();
      await page.keyboard.type('jk');
      expect(await page.getByTestId('filter-input').inputValue()).toBe('jk');
      expect(await focusedRow()).toBe('INPUT');
      await page.locator('h1').click();
      await page.keyboard.press('ArrowDown');
      await expect.poll(focusedRow).toBe('0');
    });
  });
});
