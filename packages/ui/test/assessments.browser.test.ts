import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace, request } from '../scripts/seed.mjs';
import { chromiumForSuite, useServerAndPage } from './browser-setup.js';

/**
 * A trace's feedback in the UI (issue 12, part 7, the trace page): what end users and reviewers
 * said, an overridden value struck through, and a reviewer's form that records new feedback the
 * search then finds.
 */
const available = chromiumForSuite('feedback on the trace page');

describe.runIf(available)('feedback on the trace page', () => {
  let traceId = '';
  const t = useServerAndPage(async (url) => {
    traceId = await logTrace(url, { user: 'alice', session: 'conv-1', startMs: Date.now() - 60_000, durationMs: 20, inputs: 'What is 6 x 7?', outputs: '41' });
    const first = (await request(url, 'POST', `/api/3.0/mlflow/traces/${traceId}/assessments`, {
      assessment: { assessment_name: 'user_satisfaction', feedback: { value: true }, source: { source_type: 'HUMAN', source_id: 'alice' } },
    })) as { assessment: { assessment_id: string } };
    await request(url, 'POST', `/api/3.0/mlflow/traces/${traceId}/assessments`, {
      assessment: { assessment_name: 'user_satisfaction', feedback: { value: false }, rationale: '6 x 7 is 42', overrides: first.assessment.assessment_id, source: { source_type: 'HUMAN', source_id: 'reviewer-1' } },
    });
  });

  it('shows each feedback with its source and rationale, the overridden one struck through', async () => {
    await t.page.goto(`${t.server.url}/experiments/0/traces/${traceId}`);
    const rows = t.page.getByTestId('assessment-row');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    const texts = await rows.allTextContents();
    expect(texts[0]).toMatch(/user_satisfaction.*yes.*overridden by reviewer-1.*HUMAN.*alice/);
    expect(texts[1]).toMatch(/user_satisfaction.*no.*6 x 7 is 42.*HUMAN.*reviewer-1/);
    expect(await rows.first().locator('.struck').count()).toBe(1);
  });

  it("records a reviewer's expectation from the form, and search finds the trace by it", async () => {
    await t.page.goto(`${t.server.url}/experiments/0/traces/${traceId}`);
    const form = t.page.getByRole('form', { name: 'Add feedback or an expectation' });
    await form.getByLabel('Kind').selectOption('expectation');
    await form.getByLabel('Name').fill('expected_answer');
    await form.getByLabel('Value').fill('42');
    await form.getByLabel('Rationale').fill('arithmetic');
    await form.getByRole('button', { name: 'Add' }).click();
    await expect.poll(() => t.page.getByTestId('assessment-row').count(), { timeout: 10_000 }).toBe(3);
    const found = (await request(t.server.url, 'POST', '/api/3.0/mlflow/traces/search', {
      locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }],
      filter: "expectation.expected_answer = '42'",
    })) as { traces?: { trace_id: string }[] };
    expect(found.traces?.map((t) => t.trace_id)).toEqual([traceId]);
  });

  it('gives a turn a thumbs-down in the session page, then finds that session with the sessions filter', async () => {
    const other = await logTrace(t.server.url, { user: 'bob', session: 'conv-2', startMs: Date.now() - 30_000, durationMs: 20, inputs: 'Hello', outputs: 'Hi!' });
    const happy = await logTrace(t.server.url, { user: 'carol', session: 'conv-3', startMs: Date.now() - 20_000, durationMs: 20, inputs: 'Thanks', outputs: 'Welcome' });
    await request(t.server.url, 'POST', `/api/3.0/mlflow/traces/${happy}/assessments`, { assessment: { assessment_name: 'user_satisfaction', feedback: { value: true }, source: { source_type: 'HUMAN', source_id: 'carol' } } });
    await t.page.goto(`${t.server.url}/experiments/0/sessions/conv-2`);
    const turn = t.page.getByTestId('turn').first();
    await turn.getByRole('button', { name: 'Thumbs down' }).click();
    await expect.poll(async () => (await turn.getByTestId('turn-feedback').textContent()) ?? '', { timeout: 10_000 }).toMatch(/user_satisfaction: ✗ no · reviewer/);
    const stored = (await request(t.server.url, 'GET', `/api/3.0/mlflow/traces/${other}`)) as { trace: { trace_info: { assessments: { source: { source_type: string } }[] } } };
    expect(stored.trace.trace_info.assessments).toEqual([expect.objectContaining({ assessment_name: 'user_satisfaction', feedback: { value: false }, source: { source_type: 'HUMAN', source_id: 'reviewer' } })]);

    await t.page.goto(`${t.server.url}/experiments/0/sessions`);
    // The quick filter for negative feedback.
    await t.page.getByText("feedback.user_satisfaction = 'false'").first().click();
    await expect.poll(async () => t.page.url(), { timeout: 10_000 }).toContain('q=');
    const table = t.page.getByTestId('sessions-table');
    // The unfiltered list (all three) may still be on screen when the URL changes: wait for the
    // filtered one. conv-1's valid feedback is the reviewer's correction, a 'no'; conv-3 has only a
    // thumbs-up.
    const listed = async () => {
      const text = (await table.textContent()) ?? '';
      return ['conv-1', 'conv-2', 'conv-3'].filter((id) => text.includes(id));
    };
    await expect.poll(listed, { timeout: 10_000 }).toEqual(['conv-1', 'conv-2']);
    // Each row counts its feedback: conv-2 has the one thumbs-down given above.
    const conv2 = table.locator('[role="row"]', { hasText: 'conv-2' });
    await expect.poll(async () => (await conv2.getByTestId('feedback-cell').textContent()) ?? '').toBe('user_satisfaction ✓0 ✗1');
  });

  it('charts feedback over time in the overview, and counts it per user', async () => {
    // By now: alice's thumbs-up overridden by a reviewer's no, bob's turn given a no above, carol's yes.
    await t.page.goto(`${t.server.url}/experiments/0/overview?range=24h&group=user`);
    const panel = t.page.getByTestId('feedback-panel');
    await expect.poll(async () => (await panel.textContent()) ?? '', { timeout: 10_000 }).toContain('Feedback: share positive');
    await expect.poll(async () => (await panel.textContent()) ?? '').toContain('user_satisfaction (3)');
    expect(await panel.getByTestId('chart-feedback').count()).toBe(1);
    // The last two cells of a user's row: feedback count and positive share.
    const feedbackCells = async (user: string) => (await t.page.locator('.plain-table tr', { hasText: user }).locator('td').allTextContents()).slice(-2);
    await expect.poll(() => feedbackCells('carol')).toEqual(['1', '100%']);
    expect(await feedbackCells('alice')).toEqual(['1', '0%']);
    expect(await feedbackCells('bob')).toEqual(['1', '0%']);
  });
});
