import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { postgresOk } from '../../server/test/support/databases.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace } from '../scripts/seed.mjs';
import { chromiumForSuite, useServerAndPage } from './browser-setup.js';

/**
 * Word search, highlight and completion in the filter boxes (issue 15, item 8), tried as a new
 * user would: traces logged with text through the real API, then the words typed into the boxes
 * of the real UI on a real server, on both stores.
 */
const available = chromiumForSuite('word search and completion in the filter boxes');

const T0 = Date.parse('2026-11-20T10:00:00Z');

/** The marked words in the part of the page `testId` names. */
const marks = (page: Page, testId: string) => page.getByTestId(testId).locator('mark').allTextContents();
const filterInput = (page: Page) => page.getByTestId('filter-input');
/** The sessions the sessions list shows, by their links. */
const sessionsListed = (page: Page) => page.getByTestId('sessions-table').locator('a[href*="/sessions/"]').allTextContents();
const options = (page: Page) => page.getByRole('listbox', { name: 'Suggestions' }).getByRole('option');

for (const database of ['sqlite', 'postgres'] as const) {
  describe.runIf(available && (database === 'sqlite' || postgresOk))(`word search and completion [${database}]`, () => {
    const t = useServerAndPage(
      async (url) => {
        const turn = (user: string, session: string, minute: number, inputs: string, outputs: string, tags?: Record<string, string>) =>
          logTrace(url, { user, session, startMs: T0 + minute * 60_000, durationMs: 300, inputs, outputs, ...(tags ? { tags } : {}) });
        await turn('ann', 'conv-python', 0, 'How do I install Python on Windows?', 'Download the Python installer from python.org and run it.', { env: 'prod' });
        await turn('ann', 'conv-python', 1, 'And pip?', 'It comes with the installer.', { env: 'prod' });
        await turn('bob', 'conv-refund', 2, 'Where is my parcel?', 'It ships tomorrow.', { env: 'staging' });
        await turn('bob', 'conv-refund', 3, 'It came late, I want a refund.', 'Your refund has been issued.', { 'team-name': 'billing' });
        await turn('cy', 'conv-weather', 4, 'What is the weather today?', 'Sunny, 21 degrees.');
      },
      { database },
    );

    it('finds the traces that mention a plain word typed in the traces box, with no error and the word marked', async () => {
      await t.page.goto(`${t.server.url}/experiments/0/traces`);
      await expect.poll(() => t.page.getByTestId('trace-count').textContent()).toBe('5 traces');
      await filterInput(t.page).fill('Python');
      expect(await t.page.getByTestId('filter-mode').textContent()).toBe('words');
      await filterInput(t.page).press('Enter');
      await expect.poll(() => t.page.getByTestId('trace-count').textContent()).toBe('1 trace');
      expect(await t.page.getByTestId('filter-error').count()).toBe(0);
      const table = t.page.getByTestId('traces-table');
      expect(await table.textContent()).toContain('How do I install Python on Windows?');
      // Python in the request, Python and python (of python.org) in the response: in any case.
      expect(await marks(t.page, 'traces-table')).toEqual(['Python', 'Python', 'python']);
      // A filter is still a filter, its errors where they were.
      await filterInput(t.page).fill("trace.status = 'OK' tags.env = 'prod'");
      expect(await t.page.getByTestId('filter-mode').count()).toBe(0);
      await filterInput(t.page).press('Enter');
      await expect.poll(() => t.page.getByTestId('filter-error-token').textContent()).toBe('tags.env');
    });

    it('finds the conversations that mention refund in the sessions box, marks it, and keeps it marked in the session opened', async () => {
      await t.page.goto(`${t.server.url}/experiments/0/sessions`);
      const table = t.page.getByTestId('sessions-table');
      await expect.poll(() => sessionsListed(t.page)).toEqual(['conv-weather', 'conv-refund', 'conv-python']);
      await filterInput(t.page).fill('refund');
      await filterInput(t.page).press('Enter');
      await expect.poll(() => sessionsListed(t.page)).toEqual(['conv-refund']);
      expect(await t.page.getByTestId('filter-error').count()).toBe(0);
      // The last reply of the conversation is in the list.
      expect(await marks(t.page, 'sessions-table')).toEqual(['refund']);

      await table.getByRole('link', { name: 'conv-refund' }).click();
      await expect.poll(() => t.page.getByTestId('turn').count()).toBe(2);
      expect(new URL(t.page.url()).searchParams.get('words')).toBe('refund');
      await expect.poll(() => marks(t.page, 'conversation')).toEqual(['refund', 'refund']);
      expect(await t.page.getByTestId('turn').first().locator('mark').count()).toBe(0);

      // And in the trace opened from the turn, in its span's inputs and outputs.
      await t.page.getByTestId('turn').nth(1).getByRole('link', { name: 'Open trace →' }).click();
      await expect.poll(() => marks(t.page, 'span-detail')).toEqual(['refund', 'refund']);
    });

    it('completes field names, a tag key after tag., and a user after a user clause, each inserted when accepted', async () => {
      await t.page.goto(`${t.server.url}/experiments/0/traces`);
      const input = filterInput(t.page);
      await input.click();
      await input.pressSequentially('trace.st');
      await expect.poll(() => options(t.page).allTextContents()).toEqual([expect.stringMatching(/^trace\.status/)]);
      expect(await input.getAttribute('role')).toBe('combobox');
      expect(await input.getAttribute('aria-expanded')).toBe('true');
      await input.press('ArrowDown');
      expect(await options(t.page).first().getAttribute('aria-selected')).toBe('true');
      expect(await input.getAttribute('aria-activedescendant')).toBe(await options(t.page).first().getAttribute('id'));
      await input.press('Enter');
      expect(await input.inputValue()).toBe('trace.status ');
      // Then its comparators; Escape closes the list and leaves the text.
      await expect.poll(() => options(t.page).allTextContents()).toContain('=');
      await input.press('Escape');
      expect(await options(t.page).count()).toBe(0);
      expect(await input.inputValue()).toBe('trace.status ');

      // A tag key after tag., quoted as the language needs, by a click.
      await input.fill('tag.');
      await expect.poll(() => options(t.page).allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/^env/), expect.stringMatching(/^team-name/)]));
      await options(t.page).filter({ hasText: 'team-name' }).click();
      expect(await input.inputValue()).toBe('tag.`team-name` ');

      // A user after a user clause, by Tab; the filter then finds that user's traces.
      await input.fill("metadata.`mlflow.trace.user` = 'b");
      await expect.poll(() => options(t.page).allTextContents()).toEqual([expect.stringMatching(/^bob/)]);
      await input.press('Tab');
      expect(await input.inputValue()).toBe("metadata.`mlflow.trace.user` = 'bob' ");
      await input.press('Enter');
      await expect.poll(() => t.page.getByTestId('trace-count').textContent()).toBe('2 traces');
    });

    it("completes the sessions box's own fields and its users", async () => {
      await t.page.goto(`${t.server.url}/experiments/0/sessions`);
      const input = filterInput(t.page);
      await input.click();
      await input.pressSequentially('tu');
      await expect.poll(() => options(t.page).allTextContents()).toEqual([expect.stringMatching(/^turns/)]);
      await input.fill("user = '");
      // Without a prefix, the most recently active users first.
      await expect.poll(() => options(t.page).allTextContents()).toEqual([expect.stringMatching(/^cy/), expect.stringMatching(/^bob/), expect.stringMatching(/^ann/)]);
      await options(t.page).filter({ hasText: 'ann' }).click();
      await input.press('Enter');
      await expect.poll(() => sessionsListed(t.page)).toEqual(['conv-python']);
    });
  });
}
