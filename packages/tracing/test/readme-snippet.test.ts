import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getLastActiveTraceId, ThreadlineClient } from '@threadline/tracing';
import { startTrackingServer, type TestTrackingServer } from './support/tracking-server.js';

/**
 * The README's SDK example, run as it is written there (only the tracking URI is pointed at a
 * test server): if the README's code stops working, this fails.
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));
let server: TestTrackingServer;
beforeAll(async () => {
  server = await startTrackingServer();
});
afterAll(async () => server?.close());

function readmeSnippet(name: string): string {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const match = new RegExp(`<!-- readme-snippet:${name} -->\\n\`\`\`ts\\n([\\s\\S]*?)\\n\`\`\``).exec(readme);
  if (!match) throw new Error(`README.md has no snippet marked readme-snippet:${name}`);
  return match[1]!;
}

/** Writes the README's snippet `name` into a module, pointed at the test server, and runs it. */
async function runSnippet(name: string): Promise<void> {
  const code = readmeSnippet(name);
  expect(code).toContain("trackingUri: 'http://127.0.0.1:5000'");
  const dir = `${root}.tmp/readme-snippets`;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/${name}.ts`;
  writeFileSync(file, code.replace("trackingUri: 'http://127.0.0.1:5000'", `trackingUri: '${server.url}'`));
  await import(file);
}

it("runs the README's SDK example as written, and the trace is named, typed, previewed and tied to its user and session", async () => {
  await runSnippet('sdk');

  const client = new ThreadlineClient({ trackingUri: server.url });
  const [info] = (await client.searchTraces({ filter: "metadata.`mlflow.trace.user` = 'user-123' AND metadata.`mlflow.trace.session` = 'session-abc-456'" })).traces;
  expect(info).toMatchObject({ requestPreview: 'Hello, how are you?', responsePreview: 'You said: Hello, how are you?', state: 'OK' });
  const { data } = await client.getTrace(info!.traceId);
  expect(data.spans.map((s) => [s.name, s.spanType])).toEqual([['chat_completion', 'CHAIN']]);
});

it("runs the README's redaction example as written, and the server keeps what its comments say", async () => {
  await runSnippet('redaction');
  const client = new ThreadlineClient({ trackingUri: server.url });
  const { data } = await client.getTrace(getLastActiveTraceId()!);
  expect(data.spans[0]!.inputs).toEqual({ question: 'Who is [REDACTED:email]?', apiKey: '[REDACTED]' });
  expect(data.spans[0]!.outputs).toBe('[REDACTED] owns card [REDACTED:credit_card]');
});
