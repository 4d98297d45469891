import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace, request } from '../scripts/seed.mjs';
import { chromiumForSuite, useServerAndPage } from './browser-setup.js';

/**
 * Privacy in the UI (issue "Privacy", item 5): erasing a user or a session from its page behind a
 * typed confirmation, the receipt that follows (also while the server still runs the erase), the
 * page once the subject is gone, the experiment's list of receipts, and its retention setting.
 */
const SUITE = 'erasures and retention in the UI';
const available = chromiumForSuite(SUITE);

interface Receipt {
  erasure_id: string;
  kind: string;
  experiment_ids: string[];
  state: string;
  counts: Record<string, number>;
}

describe.runIf(available)(SUITE, () => {
  let otherExperiment = '';
  const t = useServerAndPage(async (url) => {
    const at = Date.now() - 10 * 60_000;
    // alice: three turns in two sessions here, and one in another experiment.
    await logTrace(url, { user: 'alice', session: 'alice-1', startMs: at, durationMs: 20, inputs: 'Where is my order?', outputs: 'On its way.' });
    await logTrace(url, { user: 'alice', session: 'alice-1', startMs: at + 1000, durationMs: 20, inputs: 'When will it come?', outputs: 'Tomorrow.' });
    await logTrace(url, { user: 'alice', session: 'alice-2', startMs: at + 2000, durationMs: 20, inputs: 'Change my address', outputs: 'Done.' });
    otherExperiment = (await request(url, 'POST', '/api/2.0/mlflow/experiments/create', { name: 'elsewhere' })).experiment_id;
    await logTrace(url, { experimentId: otherExperiment, user: 'alice', session: 'alice-9', startMs: at, durationMs: 20, inputs: 'Hi', outputs: 'Hello' });
    // bob: a session of two turns; carol: one of one.
    await logTrace(url, { user: 'bob', session: 'bob-1', startMs: at + 3000, durationMs: 20, inputs: 'Refund?', outputs: 'Sure.' });
    await logTrace(url, { user: 'bob', session: 'bob-1', startMs: at + 4000, durationMs: 20, inputs: 'Thanks', outputs: 'Welcome.' });
    await logTrace(url, { user: 'carol', session: 'carol-1', startMs: at + 5000, durationMs: 20, inputs: 'Hello?', outputs: 'Hi carol.' });
    // erin: the one trace older than 30 days.
    await logTrace(url, { user: 'erin', session: 'erin-1', startMs: Date.now() - 40 * 86_400_000, durationMs: 20, inputs: 'Old question', outputs: 'Old answer' });
  });

  const dialog = () => t.page.getByTestId('erase-dialog');
  const receiptCount = (kind: string) => dialog().locator(`[data-count="${kind}"] td.num`).textContent();
  const traceIdsOf = async (experimentId: string, filter: string) => {
    const found = (await request(t.server.url, 'POST', '/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } }], filter })) as { traces?: unknown[] };
    return found.traces?.length ?? 0;
  };

  it('erases a user from their page once the id is typed, shows the receipt, then that the user no longer exists', async () => {
    await t.page.goto(`${t.server.url}/experiments/0/users/alice`);
    await t.page.getByRole('button', { name: 'Erase…' }).click();
    await expect.poll(() => dialog().isVisible()).toBe(true);
    const what = (await dialog().getByTestId('erase-what').textContent()) ?? '';
    expect(what).toContain('every trace of user alice in Default');
    expect(await dialog().getByText('In this experiment, Default (3 traces in 2 sessions)').count()).toBe(1);
    const erase = dialog().getByRole('button', { name: 'Erase this user' });
    expect(await erase.isDisabled()).toBe(true);
    await dialog().getByTestId('erase-confirm').fill('alic');
    expect(await erase.isDisabled()).toBe(true);
    await dialog().getByTestId('erase-confirm').fill('alice');
    await erase.click();

    await expect.poll(() => dialog().getByTestId('receipt-state').textContent()).toBe('Complete');
    expect(await receiptCount('traces')).toBe('3');
    expect(await receiptCount('spans')).toBe('3');
    const erasureId = (await dialog().getByTestId('receipt-id').textContent()) ?? '';
    expect(erasureId).toMatch(/^er-[0-9a-f]{32}$/);
    const stored = (await request(t.server.url, 'GET', `/api/threadline/erasures/${erasureId}`)).erasure as Receipt;
    expect(stored).toMatchObject({ kind: 'user', experiment_ids: ['0'], state: 'complete', counts: { traces: 3 } });
    // Only this experiment was chosen: alice's trace elsewhere stays.
    expect(await traceIdsOf(otherExperiment, "metadata.`mlflow.trace.user` = 'alice'")).toBe(1);

    await dialog().getByRole('button', { name: 'Close' }).click();
    const notice = t.page.getByTestId('erased-notice');
    await expect.poll(async () => (await notice.textContent()) ?? '').toMatch(/User alice no longer exists: erased .*, 3 traces deleted\./);
    expect(await t.page.getByRole('button', { name: 'Erase…' }).count()).toBe(0);
    await notice.getByTestId('erased-receipt-link').click();
    await t.page.waitForURL(`**/experiments/0/privacy/erasures/${erasureId}`);
    await expect.poll(() => t.page.getByTestId('receipt-state').textContent()).toBe('Complete');
    expect(await t.page.getByTestId('receipt-counts').locator('[data-count="traces"] td.num').textContent()).toBe('3');

    await t.page.goto(`${t.server.url}/experiments/0/users`);
    await expect.poll(async () => (await t.page.getByTestId('users-table').textContent()) ?? '').toContain('bob');
    expect(await t.page.getByTestId('users-table').textContent()).not.toContain('alice');

    await t.page.getByRole('link', { name: 'Privacy' }).click();
    const rows = t.page.getByTestId('erasure-row');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().locator('td').allTextContents()).toEqual([expect.any(String), expect.stringMatching(/^User [0-9a-f]{12}…$/), '3', '1', 'anonymous', 'Complete', erasureId]);
  });

  it('erases a session from its page, and the sessions list no longer has it', async () => {
    await t.page.goto(`${t.server.url}/experiments/0/sessions/bob-1`);
    await t.page.getByRole('button', { name: 'Erase…' }).click();
    expect(await dialog().getByTestId('erase-what').textContent()).toContain('every trace of session bob-1 in Default (2 turns from bob)');
    await dialog().getByTestId('erase-confirm').fill('bob-1');
    await dialog().getByRole('button', { name: 'Erase this session' }).click();
    await expect.poll(() => dialog().getByTestId('receipt-state').textContent()).toBe('Complete');
    expect(await receiptCount('traces')).toBe('2');
    await dialog().getByRole('button', { name: 'Close' }).click();
    await expect.poll(async () => (await t.page.getByTestId('erased-notice').textContent()) ?? '').toMatch(/Session bob-1 no longer exists: .*2 traces deleted/);
    expect(await t.page.getByTestId('turn').count()).toBe(0);
    expect(await traceIdsOf('0', "metadata.`mlflow.trace.session` = 'bob-1'")).toBe(0);

    await t.page.goto(`${t.server.url}/experiments/0/sessions`);
    await expect.poll(async () => (await t.page.getByTestId('sessions-table').textContent()) ?? '').toContain('carol-1');
    expect(await t.page.getByTestId('sessions-table').textContent()).not.toContain('bob-1');
  });

  it('follows an erase the server answers while it still runs (202), until its receipt is complete', async () => {
    // The server answers 202 only after 20 s of erasing: here its answer is made to read as one.
    await t.page.route('**/ajax-api/threadline/sessions/*/erase', async (route) => {
      const response = await route.fetch();
      const { erasure } = (await response.json()) as { erasure: Receipt };
      await route.fulfill({ response, status: 202, json: { erasure: { ...erasure, state: 'running', completed_time_ms: null, counts: {} } } });
    });
    try {
      await t.page.goto(`${t.server.url}/experiments/0/sessions/carol-1`);
      await t.page.getByRole('button', { name: 'Erase…' }).click();
      await dialog().getByTestId('erase-confirm').fill('carol-1');
      await dialog().getByRole('button', { name: 'Erase this session' }).click();
      await expect.poll(() => dialog().getByTestId('receipt-state').textContent()).toBe('Running: 0 traces so far');
      expect(await dialog().getByRole('heading', { level: 2 }).textContent()).toBe('Erasing session carol-1…');
      // The next poll of the receipt finds it complete, and the page's data is asked again.
      await expect.poll(() => dialog().getByTestId('receipt-state').textContent()).toBe('Complete');
      expect(await receiptCount('traces')).toBe('1');
      expect(await dialog().getByRole('heading', { level: 2 }).textContent()).toBe('Erased session carol-1');
      await dialog().getByRole('button', { name: 'Close' }).click();
      await expect.poll(async () => (await t.page.getByTestId('erased-notice').textContent()) ?? '').toContain('Session carol-1 no longer exists');
    } finally {
      await t.page.unroute('**/ajax-api/threadline/sessions/*/erase');
    }
  });

  it('keeps the dialog inside a 390 px screen in the dark theme', async () => {
    await logTrace(t.server.url, { user: 'dave-with-a-rather-long-user-id@example.com', session: 'dave-1', startMs: Date.now() - 60_000, durationMs: 20, inputs: 'Hi', outputs: 'Hello' });
    await t.page.setViewportSize({ width: 390, height: 760 });
    try {
      await t.page.goto(`${t.server.url}/experiments/0/users/${encodeURIComponent('dave-with-a-rather-long-user-id@example.com')}`);
      await t.page.evaluate(() => localStorage.setItem('threadline.theme', 'dark'));
      await t.page.reload();
      await t.page.getByRole('button', { name: 'Erase…' }).click();
      const box = (await dialog().boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      for (const part of [dialog().getByTestId('erase-confirm'), dialog().getByRole('button', { name: 'Erase this user' }), dialog().getByRole('button', { name: 'Cancel' })]) {
        const b = (await part.boundingBox())!;
        expect(b.x + b.width).toBeLessThanOrEqual(box.x + box.width);
      }
      // Dark: a dark panel with light text.
      const [background, color] = await dialog().evaluate((el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color]);
      const lightness = (rgb: string) => rgb.match(/\d+/g)!.slice(0, 3).map(Number).reduce((a, b) => a + b, 0) / 3;
      expect(lightness(background)).toBeLessThan(60);
      expect(lightness(color)).toBeGreaterThan(180);
      // Escape cancels and erases nothing.
      await t.page.keyboard.press('Escape');
      await expect.poll(() => dialog().count()).toBe(0);
      expect(await traceIdsOf('0', "metadata.`mlflow.trace.user` = 'dave-with-a-rather-long-user-id@example.com'")).toBe(1);
    } finally {
      await t.page.evaluate(() => localStorage.removeItem('threadline.theme'));
      await t.page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  it('sets and clears the retention of an experiment, after a warning that counts what it deletes', async () => {
    const retentionTag = async () => {
      const { experiment } = (await request(t.server.url, 'GET', '/api/2.0/mlflow/experiments/get?experiment_id=0')) as { experiment: { tags?: { key: string; value: string }[] } };
      return experiment.tags?.find((tag) => tag.key === 'threadline.retention_days')?.value;
    };
    await t.page.goto(`${t.server.url}/experiments/0/privacy`);
    const current = t.page.getByTestId('retention-current');
    await expect.poll(() => current.textContent()).toBe('Keep forever. No trace is deleted for its age.');
    const days = t.page.getByTestId('retention-days');
    const setButton = t.page.getByRole('button', { name: 'Set retention' });
    for (const refused of ['0', '7.5']) {
      await days.fill(refused);
      expect(await setButton.isDisabled()).toBe(true);
    }
    await days.fill('30');
    // Only erin's trace, 40 days old, is past 30 days.
    await expect.poll(async () => (await t.page.getByTestId('retention-warning').textContent()) ?? '').toMatch(/deletes every trace older than 30 days.*Today that is 1 trace, from before /);
    await setButton.click();
    await expect.poll(() => current.textContent()).toBe('30 days. Traces older than that are deleted continuously, as they reach that age.');
    expect(await retentionTag()).toBe('30');
    expect(await t.page.getByTestId('retention-warning').count()).toBe(0);

    await t.page.goto(`${t.server.url}/experiments`);
    const defaultRow = t.page.locator('[data-testid="experiments"] tr', { hasText: 'Default' });
    await expect.poll(() => defaultRow.getByTestId('retention-cell').textContent()).toBe('30 days');

    await defaultRow.getByTestId('retention-cell').click();
    await t.page.getByRole('button', { name: 'Keep forever' }).click();
    await expect.poll(() => current.textContent()).toBe('Keep forever. No trace is deleted for its age.');
    expect(await retentionTag()).toBeUndefined();

    // The server takes only a whole number of days, so a value set by hand cannot be anything else.
    await expect(request(t.server.url, 'POST', '/api/2.0/mlflow/experiments/set-experiment-tag', { experiment_id: '0', key: 'threadline.retention_days', value: 'soon' })).rejects.toThrow(/400/);
    expect(await retentionTag()).toBeUndefined();
  });
});
