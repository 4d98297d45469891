import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/server.js';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { launchBrowser } from '../scripts/browser.mjs';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { logTrace, request } from '../scripts/seed.mjs';
import { chromiumForSuite, ensureBuilt } from './browser-setup.js';

const SUITE = 'accounts in the web UI (Chromium, --auth)';
const available = chromiumForSuite(SUITE);

const ADMIN = { username: 'root', password: 'root-password-1' };
const ALICE = { username: 'alice', password: 'alice-password-1' };
/** An account with no permission anywhere. */
const CAROL = { username: 'carol', password: 'carol-password-1' };
const basic = ({ username, password }: { username: string; password: string }) => ({ authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` });
const T0 = Date.parse('2026-11-20T10:00:00Z');

/** A call from Node, as an SDK or a script would make it: the status and the parsed body. */
async function call(url: string, method: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe.runIf(available)(SUITE, () => {
  let server: RunningServer;
  let open: RunningServer;
  let browser: { context: BrowserContext; close(): Promise<void> };
  let page: Page;
  let readable = '';
  let secret = '';
  const dialogs: string[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0, auth: true, bootstrapAdmin: ADMIN, defaultPermission: 'NO_PERMISSIONS' });
    open = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
    const asAdmin = basic(ADMIN);
    readable = (await request(server.url, 'POST', '/api/2.0/mlflow/experiments/create', { name: 'support-bot' }, asAdmin)).experiment_id;
    secret = (await request(server.url, 'POST', '/api/2.0/mlflow/experiments/create', { name: 'payroll-agent' }, asAdmin)).experiment_id;
    for (let i = 0; i < 3; i++) {
      await logTrace(server.url, { experimentId: readable, user: 'customer-1', session: 'chat-1', startMs: T0 + i * 1000, durationMs: 100, inputs: `support question ${i + 1}`, outputs: 'answered' }, { headers: asAdmin });
    }
    for (let i = 0; i < 2; i++) {
      await logTrace(server.url, { experimentId: secret, user: 'employee-1', startMs: T0 + i * 1000, durationMs: 100, inputs: `salary of ${i + 1}`, outputs: 'confidential' }, { headers: asAdmin });
    }
    await request(server.url, 'POST', '/api/2.0/mlflow/users/create', ALICE, asAdmin);
    await request(server.url, 'POST', '/api/2.0/mlflow/users/create', CAROL, asAdmin);
    await request(server.url, 'POST', '/api/2.0/mlflow/experiments/permissions/create', { experiment_id: readable, username: ALICE.username, permission: 'READ' }, asAdmin);

    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await open?.close();
  });

  const form = () => page.getByTestId('signin-form');
  const traceRows = () => page.locator('[data-testid="traces-table"] [role="row"][data-index]');
  const sessionCookie = async () => (await browser.context.cookies()).find((c) => c.name === 'threadline_session' && c.value !== '');
  const signIn = async ({ username, password }: { username: string; password: string }) => {
    await form().getByLabel('Username').fill(username);
    await form().getByLabel('Password').fill(password);
    await form().getByRole('button', { name: 'Sign in' }).click();
  };

  it('with auth off, shows no sign-in and no account menu', async () => {
    await page.goto(open.url);
    await page.waitForURL('**/experiments/0/traces');
    await expect.poll(() => page.getByTestId('trace-count').textContent()).toBe('0 traces');
    expect(await form().count()).toBe(0);
    expect(await page.getByTestId('signed-in-as').count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Tokens' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Access' }).count()).toBe(0);
  });

  it('asks to sign in in place of the page asked for, and says so on a wrong password', async () => {
    await page.goto(`${server.url}/experiments/${readable}/traces`);
    await expect.poll(() => form().isVisible()).toBe(true);
    expect(await page.getByTestId('traces-table').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    await signIn({ username: ALICE.username, password: 'not-her-password' });
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toBe('Wrong username or password.');
    expect(new URL(page.url()).pathname).toBe(`/experiments/${readable}/traces`);
    // The password is cleared and focused for the next try; no session was made.
    expect(await form().getByLabel('Password').inputValue()).toBe('');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('password');
    expect(await sessionCookie()).toBeUndefined();
  });

  it("signs alice in with an HttpOnly, SameSite=Strict cookie and comes back to the page, with the traces she may read", async () => {
    await signIn(ALICE);
    await expect.poll(() => traceRows().count()).toBe(3);
    expect(new URL(page.url()).pathname).toBe(`/experiments/${readable}/traces`);
    expect(await page.getByTestId('signed-in-as').textContent()).toBe('alice');
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => document.cookie)).not.toContain('threadline_session');
    // Her experiments are the ones she may read.
    await page.goto(`${server.url}/experiments`);
    await expect.poll(() => page.locator('[data-testid="experiments"] tbody tr').allTextContents()).toEqual([expect.stringContaining('support-bot')]);
  });

  it('refuses the other experiment: a no-access message in place of the data, and a 403 from the API', async () => {
    for (const section of ['traces', 'sessions', 'overview']) {
      await page.goto(`${server.url}/experiments/${secret}/${section}`);
      await expect.poll(() => page.getByTestId('no-access').textContent()).toContain("You don't have access to this experiment.");
      expect(await page.getByTestId('no-access').textContent()).toContain(`'alice' has NO_PERMISSIONS on experiment ${secret}`);
      expect(await page.getByTestId('traces-table').count()).toBe(0);
      expect(await page.getByText('salary of', { exact: false }).count()).toBe(0);
    }
    const status = await page.evaluate(async (id) => (await fetch(`/ajax-api/2.0/mlflow/experiments/get?experiment_id=${id}`)).status, secret);
    expect(status).toBe(403);
  });

  it('offers a reader no erase and no retention form: they need MANAGE', async () => {
    await page.goto(`${server.url}/experiments/${readable}/users/customer-1`);
    await expect.poll(() => page.getByText('First seen').count()).toBe(1);
    // Absent once the permissions list has answered her (403), not merely not yet shown.
    await page.waitForLoadState('networkidle');
    expect(await page.getByRole('button', { name: 'Erase…' }).count()).toBe(0);
    await page.goto(`${server.url}/experiments/${readable}/privacy`);
    await expect.poll(() => page.getByTestId('retention-current').textContent()).toContain('Keep forever.');
    await page.waitForLoadState('networkidle');
    expect(await page.getByTestId('retention-days').count()).toBe(0);
  });

  it('creates a token, shows its secret once, and the token calls the API from Node until revoked', async () => {
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.waitForURL('**/tokens');
    await page.getByTestId('token-name').fill('ci');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.getByTestId('token-secret').textContent()) ?? '';
    expect(token.length).toBeGreaterThan(20);
    expect(await page.getByTestId('new-token').textContent()).toContain('it will not be shown again');
    const env = (await page.getByTestId('token-env').textContent()) ?? '';
    expect(env).toContain(`MLFLOW_TRACKING_TOKEN=${token}`);
    expect(env).toContain(`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20${token}`);

    const bearer = { authorization: `Bearer ${token}` };
    const search = (experimentId: string) => call(`${server.url}/api/3.0/mlflow/traces/search`, 'POST', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } }], max_results: 10 }, bearer);
    const allowed = await search(readable);
    expect(allowed.status).toBe(200);
    expect((allowed.body.traces as unknown[]).length).toBe(3);
    const refused = await search(secret);
    expect(refused.status).toBe(403);
    expect(refused.body.error_code).toBe('PERMISSION_DENIED');

    // Once gone from the page, the secret is nowhere to be seen again; the token's use is.
    await page.reload();
    const row = page.locator('[data-testid="tokens"] tbody tr', { hasText: 'ci' });
    await expect.poll(() => row.textContent()).toContain('Active');
    expect(await page.getByTestId('new-token').count()).toBe(0);
    expect(await page.content()).not.toContain(token);
    expect(await row.locator('td').nth(2).textContent()).not.toBe('Never');

    await row.getByRole('button', { name: 'Revoke token ci' }).click();
    await expect.poll(() => row.textContent()).toContain('Revoked');
    expect(dialogs.pop()).toContain('Revoke the token "ci"?');
    expect((await search(readable)).status).toBe(401);
  });

  it('sends the CSRF token with changes: the same change without it is refused', async () => {
    const withoutToken = await page.evaluate(async () => (await fetch('/ajax-api/threadline/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"forged"}' })).status);
    expect(withoutToken).toBe(403);
    await page.goto(`${server.url}/tokens`);
    await expect.poll(() => page.locator('[data-testid="tokens"] tbody tr').count()).toBe(1);
  });

  it('shows alice no Accounts page: no link, and a no-access message at its address', async () => {
    expect(await page.getByRole('link', { name: 'Accounts' }).count()).toBe(0);
    await page.goto(`${server.url}/accounts`);
    await expect.poll(() => page.getByTestId('no-access').textContent()).toContain('Only admins can see this page.');
    expect(await page.getByTestId('accounts').count()).toBe(0);
  });

  it('shows the sign-in page where a session ends, and signing in again goes on from there', async () => {
    await page.goto(`${server.url}/experiments/${readable}/traces`);
    await expect.poll(() => traceRows().count()).toBe(3);
    // READ is not MANAGE: no Access tab.
    expect(await page.getByRole('link', { name: 'Access' }).count()).toBe(0);
    await browser.context.clearCookies();
    await page.getByRole('link', { name: 'Sessions' }).click();
    await expect.poll(() => form().isVisible()).toBe(true);
    expect(new URL(page.url()).pathname).toBe(`/experiments/${readable}/sessions`);
    await signIn(ALICE);
    await expect.poll(() => page.locator('[data-testid="sessions-table"] [role="row"][data-index]').count()).toBe(1);
  });

  it('signs out to the sign-in page, and the session is over', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => form().isVisible()).toBe(true);
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await sessionCookie()).toBeUndefined();
    await page.goto(`${server.url}/experiments/${readable}/traces`);
    await expect.poll(() => form().isVisible()).toBe(true);
    expect(await page.getByTestId('traces-table').count()).toBe(0);
  });

  it('tells an account that may read no experiment why its list is empty', async () => {
    await page.goto(`${server.url}/experiments`);
    await signIn(CAROL);
    await expect.poll(() => page.locator('[data-testid="experiments"] tbody').textContent()).toContain('No experiment you may read yet.');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => form().isVisible()).toBe(true);
  });

  it('lets an admin create an account, make it admin, delete it, and read the audit log newest first', async () => {
    await page.goto(server.url);
    await signIn(ADMIN);
    await page.getByRole('link', { name: 'Accounts' }).click();
    await page.waitForURL('**/accounts');
    const rows = page.locator('[data-testid="accounts"] tbody tr');
    await expect.poll(() => rows.locator('td:first-child .mono').allTextContents()).toEqual(['alice', 'carol', 'root']);
    // An admin cannot lock themselves out from here.
    expect(await rows.filter({ hasText: 'root' }).getByRole('button', { name: 'Delete account root' }).isDisabled()).toBe(true);

    await page.getByTestId('new-username').fill('bob');
    await page.getByTestId('new-password').fill('bob-password-1');
    await page.getByRole('button', { name: 'Create account' }).click();
    const bob = rows.filter({ hasText: 'bob' });
    await expect.poll(() => bob.textContent()).toContain('Member');
    await bob.getByRole('button', { name: 'Make bob an admin' }).click();
    await expect.poll(() => bob.textContent()).toContain('Admin');
    expect((await call(`${server.url}/api/threadline/accounts`, 'GET', undefined, basic({ username: 'bob', password: 'bob-password-1' }))).status).toBe(200);
    await bob.getByRole('button', { name: 'Delete account bob' }).click();
    await expect.poll(() => rows.locator('td:first-child .mono').allTextContents()).toEqual(['alice', 'carol', 'root']);
    expect(dialogs.pop()).toContain('Delete the account "bob"?');

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL('**/accounts/audit');
    const events = page.locator('[data-testid="audit"] tbody tr');
    await expect.poll(() => events.first().textContent()).toContain('account.delete');
    const actions = await events.locator('td:nth-child(3)').allTextContents();
    expect(actions.slice(0, 4)).toEqual(['account.delete', 'account.admin', 'account.create', 'login']);
    expect(actions).toContain('login.failed');
    expect(actions).toContain('token.revoke');
  });

  it("lets a manager give and take access from the experiment's Access tab", async () => {
    const asAlice = basic(ALICE);
    const search = () => call(`${server.url}/api/3.0/mlflow/traces/search`, 'POST', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: secret } }] }, asAlice);
    expect((await search()).status).toBe(403);
    await page.goto(`${server.url}/experiments/${secret}/traces`);
    await page.getByRole('link', { name: 'Access' }).click();
    await page.waitForURL(`**/experiments/${secret}/access`);
    await page.getByTestId('grant-username').fill('alice');
    await page.getByTestId('grant-permission').selectOption('READ');
    await page.getByRole('button', { name: 'Give access' }).click();
    const row = page.locator('[data-testid="permissions"] tbody tr', { hasText: 'alice' });
    await expect.poll(() => row.getByLabel('Permission of alice', { exact: true }).inputValue()).toBe('READ');
    expect((await search()).status).toBe(200);
    await row.getByRole('button', { name: 'Remove the permission of alice' }).click();
    await expect.poll(() => row.count()).toBe(0);
    expect((await search()).status).toBe(403);
  });

  it('lets a manager erase a user through the signed-in session (its CSRF token), the receipt naming who asked', async () => {
    await page.goto(`${server.url}/experiments/${readable}/users/customer-1`);
    await page.getByRole('button', { name: 'Erase…' }).click();
    const dialog = page.getByTestId('erase-dialog');
    // An admin manages every experiment.
    expect(await dialog.getByText('In every experiment you manage').count()).toBe(1);
    await dialog.getByTestId('erase-confirm').fill('customer-1');
    await dialog.getByRole('button', { name: 'Erase this user' }).click();
    await expect.poll(() => dialog.getByTestId('receipt-state').textContent()).toBe('Complete');
    expect(await dialog.locator('[data-count="traces"] td.num').textContent()).toBe('3');
    expect(await dialog.getByRole('row', { name: /Requested by/ }).textContent()).toBe('Requested byroot');
  });
});
