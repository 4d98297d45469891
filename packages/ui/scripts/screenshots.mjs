// `npm run screenshots`: starts a server on an in-memory database, seeds the demo dataset through
// the HTTP API, and captures each main view into docs/screenshots/ (light, plus one dark).
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launchBrowser, chromiumAvailable, CHROMIUM_PATH } from './browser.mjs';
import { seedDemo, request } from './seed.mjs';

const out = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));
if (!chromiumAvailable()) {
  console.error(`No Chromium at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set THREADLINE_CHROMIUM.`);
  process.exit(1);
}
const { startServer } = await import('../../server/dist/server.js');
const server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
const browser = await launchBrowser();
try {
  await seedDemo(server.url, { sessions: 36 });
  const base = server.url;
  // A turn that called a tool (for the span tree) and its conversation (for the session page).
  const withTool = await request(base, 'POST', '/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }], filter: "span.type = 'TOOL' AND trace.status = 'OK'", max_results: 1 });
  const toolTurn = withTool.traces[0];
  const sessionId = toolTurn.trace_metadata['mlflow.trace.session'];
  const { sessions } = await request(base, 'POST', '/api/threadline/sessions/search', { experiment_id: '0', filter: `session_id = '${sessionId.replace(/'/g, "''")}'`, max_results: 1 });
  const session = sessions[0];
  mkdirSync(out, { recursive: true });
  const page = await browser.context.newPage();
  const shots = [
    ['traces', '/experiments/0/traces', '[data-testid="traces-table"] [role="row"][data-index]'],
    ['sessions', '/experiments/0/sessions', '[data-testid="sessions-table"] [role="row"][data-index]'],
    ['session', `/experiments/0/sessions/${encodeURIComponent(session.session_id)}`, '[data-testid="turn"]'],
    ['users', '/experiments/0/users', '[data-testid="users-table"] [role="row"][data-index]'],
    ['user', `/experiments/0/users/${encodeURIComponent(session.user_ids[0])}`, '[data-testid="chart-traces"] canvas'],
    ['trace', `/experiments/0/traces/${toolTurn.trace_id}`, '[data-testid="span-tree"] [role="treeitem"]'],
    ['overview', '/experiments/0/overview?group=user', '[data-testid="chart-groups"] canvas'],
    // Conversations that mention a word, the word marked in them.
    ['search', '/experiments/0/sessions?q=invoices', '[data-testid="sessions-table"] [role="row"][data-index] mark'],
  ];
  for (const [name, path, ready] of shots) {
    await page.goto(base + path);
    await page.waitForSelector(ready);
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}${name}.png` });
    console.log(`docs/screenshots/${name}.png`);
  }
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${base}/experiments/0/sessions/${encodeURIComponent(session.session_id)}`);
  await page.waitForSelector('[data-testid="turn"]');
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}session-dark.png` });
  console.log('docs/screenshots/session-dark.png');
  await page.goto(`${base}/experiments/0/traces/${toolTurn.trace_id}`);
  await page.waitForSelector('[data-testid="span-tree"] [role="treeitem"]');
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}trace-dark.png` });
  console.log('docs/screenshots/trace-dark.png');
} finally {
  await browser.close();
  await server.close();
}
