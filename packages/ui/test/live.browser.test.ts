import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { postgresOk } from '../../server/test/support/databases.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace } from '../scripts/seed.mjs';
import { chromiumForSuite, useServerAndPage } from './browser-setup.js';

/**
 * Live updates (issue "Live"): a user watching a conversation sees each turn appear as it is
 * logged, in order, without reloading, on both stores; the lists say when they are live, and
 * pause while the user scrolls, edits a filter or looks at another tab.
 */
const available = chromiumForSuite('live updates');

const TURNS = [
  ['Where is my parcel?', 'It left the warehouse this morning.'],
  ['When will it arrive?', 'Tomorrow before noon.'],
  ['Can I change the address?', 'Yes, until it is out for delivery.'],
] as const;

const liveStatus = (page: Page) => page.getByTestId('live-indicator').getAttribute('data-status');

for (const database of ['sqlite', 'postgres'] as const) {
  describe.runIf(available && (database === 'sqlite' || postgresOk))(`a session page watched live [${database}]`, () => {
    const t = useServerAndPage(
      async (url) => {
        await logTrace(url, { user: 'alice', session: 'conv-live', startMs: Date.now() - 60_000, durationMs: 20, inputs: 'Hello', outputs: 'Hi! How can I help?' });
      },
      { database },
    );

    it('shows three turns logged through the API as they arrive, in order, without reloading', async () => {
      await t.page.goto(`${t.server.url}/experiments/0/sessions/conv-live`);
      const turns = t.page.getByTestId('turn');
      await expect.poll(() => turns.count()).toBe(1);
      await expect.poll(() => liveStatus(t.page)).toBe('live');
      // Anything that reloads the page would lose this.
      await t.page.evaluate(() => ((window as unknown as { stillThisPage: boolean }).stillThisPage = true));

      const latencies: number[] = [];
      for (const [i, [question, answer]] of TURNS.entries()) {
        await logTrace(t.server.url, { user: 'alice', session: 'conv-live', startMs: Date.now(), durationMs: 20, inputs: question, outputs: answer });
        const loggedAt = Date.now();
        await expect.poll(async () => (await turns.count()) === i + 2 && ((await turns.last().textContent()) ?? '').includes(answer), { interval: 25 }).toBe(true);
        latencies.push(Date.now() - loggedAt);
      }
      const texts = await turns.allTextContents();
      expect(texts.map((text) => TURNS.findIndex(([question]) => text.includes(question)))).toEqual([-1, 0, 1, 2]);
      expect(await t.page.getByTestId('conversation').textContent()).toMatch(/Turn 1.*Hello.*Turn 2.*Where is my parcel.*Turn 3.*When will it arrive.*Turn 4.*Can I change the address/s);
      expect(await t.page.evaluate(() => (window as unknown as { stillThisPage?: boolean }).stillThisPage)).toBe(true);
      // Measured here: 0.01–0.3 s (the first refresh goes at once; a turn's spans follow its info within 250 ms).
      for (const ms of latencies) expect(ms).toBeLessThan(1_000);
    });
  });
}

describe.runIf(available)('live lists', () => {
  const t = useServerAndPage(async (url) => {
    // Enough traces for the list to scroll.
    for (let i = 0; i < 40; i++) await logTrace(url, { user: `user-${i % 4}`, session: `conv-${i % 8}`, startMs: Date.now() - 3_600_000 + i * 1000, durationMs: 10, inputs: `question ${i}`, outputs: `answer ${i}` });
  });

  it('adds new traces to the traces list while live; pauses while the list is scrolled or a filter edited, then catches up', async () => {
    await t.page.goto(`${t.server.url}/experiments/0/traces`);
    const table = t.page.getByTestId('traces-table');
    await expect.poll(() => liveStatus(t.page)).toBe('live');
    await logTrace(t.server.url, { user: 'zoe', session: 'conv-new', startMs: Date.now(), durationMs: 10, inputs: 'a brand new question', outputs: 'fresh' });
    await expect.poll(async () => (await table.textContent()) ?? '').toContain('a brand new question');

    // Typing a filter, not yet applied: paused; what arrives meanwhile shows once it is left.
    const filter = t.page.getByTestId('filter-input');
    await filter.fill("trace.status = 'ER");
    await expect.poll(() => liveStatus(t.page)).toBe('paused');
    await logTrace(t.server.url, { user: 'zoe', session: 'conv-new', startMs: Date.now(), durationMs: 10, inputs: 'asked while typing', outputs: 'held' });
    await t.page.waitForTimeout(1_500);
    expect(await table.textContent()).not.toContain('asked while typing');
    await filter.press('Escape');
    await expect.poll(() => liveStatus(t.page)).toBe('live');
    await expect.poll(async () => (await table.textContent()) ?? '').toContain('asked while typing');

    // Scrolled down the list: paused until back at the top.
    const body = table.locator('.vtable-body');
    await body.evaluate((el) => el.scrollTo({ top: 400 }));
    await expect.poll(() => liveStatus(t.page)).toBe('paused');
    await logTrace(t.server.url, { user: 'zoe', session: 'conv-new', startMs: Date.now(), durationMs: 10, inputs: 'asked while scrolled', outputs: 'held' });
    await body.evaluate((el) => el.scrollTo({ top: 0 }));
    await expect.poll(() => liveStatus(t.page)).toBe('live');
    await expect.poll(async () => (await table.textContent()) ?? '').toContain('asked while scrolled');
  });

  it('closes its stream while the tab is hidden, and catches up when it is shown again', async () => {
    await t.page.goto(`${t.server.url}/experiments/0/sessions`);
    const table = t.page.getByTestId('sessions-table');
    await expect.poll(() => liveStatus(t.page)).toBe('live');
    const setHidden = (hidden: boolean) =>
      t.page.evaluate((h) => {
        Object.defineProperty(document, 'visibilityState', { value: h ? 'hidden' : 'visible', configurable: true });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
    await setHidden(true);
    await expect.poll(() => liveStatus(t.page)).toBe('paused');
    await expect.poll(() => t.server.store.changes.listening).toBe(false);
    await logTrace(t.server.url, { user: 'yan', session: 'conv-while-hidden', startMs: Date.now(), durationMs: 10, inputs: 'anyone there?', outputs: 'yes' });
    await setHidden(false);
    await expect.poll(() => liveStatus(t.page)).toBe('live');
    await expect.poll(async () => (await table.textContent()) ?? '').toContain('conv-while-hidden');
  });
});
