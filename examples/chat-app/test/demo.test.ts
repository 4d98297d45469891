import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { ThreadlineClient } from '@threadline/tracing';
import { DEMO_CONVERSATIONS, runDemo, type RunningDemo } from '../src/demo.js';

// `npm run demo` end to end, in-process: servers up, conversations played, then the printed curl
// commands run as printed, against the stored traces.

let demo: RunningDemo | undefined;
let dir: string;
afterAll(async () => {
  await demo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('plays every conversation, stores one trace per request, and prints curl commands that find them', async () => {
  dir = await mkdtemp(join(tmpdir(), 'threadline-demo-'));
  const lines: string[] = [];
  demo = await runDemo({ dir, port: 0, chatPort: 0, print: (line) => lines.push(line) });
  const output = lines.join('\n');

  const turns = Object.values(DEMO_CONVERSATIONS).flatMap((sessions) => Object.values(sessions)).flat().length;
  expect(demo.traceCount).toBe(turns + 1);
  // A week of past traffic, stored with its past times, spread over the days.
  expect(demo.backfilledCount).toBeGreaterThan(300);
  const client = new ThreadlineClient({ trackingUri: demo.trackingUri, experimentId: demo.experimentId });
  const past = await client.searchTraces({ maxResults: 500, filter: `trace.timestamp_ms < ${Date.now() - 3_600_000}`, orderBy: ['timestamp_ms ASC'] });
  expect(past.traces.length).toBe(Math.min(500, demo.backfilledCount));
  expect(past.traces[0]!.requestTime).toBeLessThan(Date.now() - 4 * 86_400_000);
  expect(output).toContain('NOT OpenAI');
  expect(output).toContain(`UI:        ${demo.trackingUri}/`);
  expect(output).toContain(`curl -X POST ${demo.chatUrl}/chat -H "Content-Type: application/json" -H "X-Session-ID: session-bob-1" -H "X-User-ID: user-bob"`);

  const curls = output.split('\n').filter((line) => line.startsWith('curl -s -X POST') && line.includes('/traces/search'));
  expect(curls).toHaveLength(4);
  const results = await Promise.all(curls.map(async (command) => JSON.parse((await promisify(execFile)('bash', ['-c', command])).stdout) as { traces: { trace_metadata: Record<string, string> }[] }));
  const [byUser, bySession, byBoth, thumbsDown] = results.map((r) => r.traces);
  // The scripted thumbs-down: the last turn of bob's first session, found by its feedback.
  expect(thumbsDown!.map((t) => [t.trace_metadata['mlflow.trace.user'], t.trace_metadata['mlflow.trace.session']])).toEqual([['user-bob', 'session-bob-1']]);
  expect(output).toMatch(/answers rated through POST/);
  // The conversation rated as a whole, found by the sessions filter on its own feedback.
  const wholeCurl = output.split('\n').find((line) => line.includes('/api/threadline/sessions/search'))!;
  const rated = JSON.parse((await promisify(execFile)('bash', ['-c', wholeCurl])).stdout) as { sessions: { session_id: string }[] };
  expect(rated.sessions.map((s) => s.session_id)).toEqual(['session-alice-1']);
  expect(output).toContain(`npx threadline server --backend-store-uri sqlite:///${dir}/threadline.db`);
  // A second demo on the same folder is refused while this one runs, instead of deleting its database.
  await expect(runDemo({ dir, port: 0, chatPort: 0, print: () => {} })).rejects.toThrow(/Another demo \(pid \d+\) is running/);
  const bobTurns = Object.values(DEMO_CONVERSATIONS['user-bob']!).flat().length;
  // Bob's live turns and his past week's (the search's first page of 100).
  expect(byUser!.length).toBeGreaterThan(bobTurns);
  expect(byUser!.every((t) => t.trace_metadata['mlflow.trace.user'] === 'user-bob')).toBe(true);
  expect(bySession).toHaveLength(DEMO_CONVERSATIONS['user-bob']!['session-bob-1']!.length);
  expect(byBoth).toEqual(bySession);
});
