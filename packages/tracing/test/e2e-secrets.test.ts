import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTraces, getLastActiveTraceId, init, ThreadlineClient, trace, withSpan } from '@threadline/tracing';
import { recordingLogger } from './support/sdk-setup.js';
import { storedTraceText } from './support/stored-trace.js';
import { startTrackingServer, type TestTrackingServer } from './support/tracking-server.js';

// Tried as a new user would: credentials handed to traced code never reach the server, with no
// redaction configured, through either exporter. Every byte the server keeps of the trace (its info,
// its search listing, its spans) is searched for them; what is not secret is still there.

let server: TestTrackingServer;
beforeAll(async () => {
  server = await startTrackingServer();
});
afterAll(async () => {
  await server?.close();
});

/** Flushes, then the trace that finished last: as the server stores it (raw) and as the client reads it. */
async function lastTrace(client: ThreadlineClient) {
  const traceId = getLastActiveTraceId()!;
  expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
  const raw = await storedTraceText(server.url, traceId);
  return { raw: `${raw.info}\n${raw.search}\n${raw.spans}`, trace: await client.getTrace(traceId) };
}

describe.each(['mlflow', 'otlp'] as const)('secrets never reach the server (%s exporter)', (exporter) => {
  let client: ThreadlineClient;
  beforeAll(async () => {
    const experimentId = await new ThreadlineClient({ trackingUri: server.url }).createExperiment(`secrets-${exporter}`);
    init({ trackingUri: server.url, experimentId, exporter, scheduledDelayMillis: 10, logger: recordingLogger() });
    client = new ThreadlineClient({ trackingUri: server.url, experimentId });
  });

  it('an OpenAI client passed to a traced function is recorded as "[OpenAI client]": no key, organisation, project or default headers', async () => {
    const openai = new OpenAI({
      apiKey: 'sk-test-secret',
      organization: 'org-secret',
      project: 'proj-secret',
      defaultHeaders: { 'x-secret': 'header-secret-value' },
      baseURL: 'http://127.0.0.1:9/v1',
    });
    const answer = trace(
      async (llm: OpenAI, question: string) => withSpan((span) => {
        span.setAttribute('llm', { client: llm, model: 'gpt-4.1-mini' });
        return `answer to ${question}`;
      }, { name: 'generate' }),
      { name: 'answer' },
    );
    expect(await answer(openai, 'What is the weather?')).toBe('answer to What is the weather?');

    const { raw, trace: stored } = await lastTrace(client);
    for (const secret of ['sk-test-secret', 'org-secret', 'proj-secret', 'header-secret-value']) expect(raw).not.toContain(secret);
    const root = stored.data.spans.find((span) => span.name === 'answer');
    const child = stored.data.spans.find((span) => span.name === 'generate');
    expect(root!.inputs).toEqual({ llm: '[OpenAI client]', question: 'What is the weather?' });
    expect(root!.outputs).toBe('answer to What is the weather?');
    // Over OTLP an object attribute outside mlflow.* comes back as its JSON text.
    const llm = child!.getAttribute('llm');
    expect(typeof llm === 'string' ? JSON.parse(llm) : llm).toEqual({ client: '[OpenAI client]', model: 'gpt-4.1-mini' });
    expect(stored.info.requestPreview).toBe('{"llm":"[OpenAI client]","question":"What is the weather?"}');
  });

  it("a handler receiving a request's { headers }: Authorization and Cookie are masked, the other headers kept", async () => {
    const handle = trace(async ({ headers }: { headers: IncomingHttpHeaders }) => ({ status: 200, agent: headers['user-agent'] }), { name: 'handle' });
    await handle({ headers: { authorization: 'Bearer abc', cookie: 'sid=1', 'user-agent': 'curl/8.5', accept: 'application/json' } });
    const literal = await lastTrace(client);
    expect(literal.raw).not.toContain('Bearer abc');
    expect(literal.raw).not.toContain('sid=1');
    expect(literal.trace.data.spans[0]!.inputs).toEqual({ arg0: { headers: { authorization: '[REDACTED]', cookie: '[REDACTED]', 'user-agent': 'curl/8.5', accept: 'application/json' } } });

    // The same from a real Node request: IncomingHttpHeaders, as the server parsed them.
    const app = createServer((req, res) => {
      void handle({ headers: req.headers }).then((reply) => res.end(JSON.stringify(reply)));
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}/`;
      const reply = await fetch(url, { headers: { Authorization: 'Bearer real-request-token', Cookie: 'session=real-cookie-value', 'User-Agent': 'tester/1', 'X-Request-Id': 'req-42' } });
      expect(await reply.json()).toEqual({ status: 200, agent: 'tester/1' });
    } finally {
      await new Promise((resolve) => app.close(resolve));
    }
    const real = await lastTrace(client);
    for (const secret of ['real-request-token', 'real-cookie-value']) expect(real.raw).not.toContain(secret);
    const headers = (real.trace.data.spans[0]!.inputs as { arg0: { headers: Record<string, string> } }).arg0.headers;
    expect(headers).toMatchObject({ authorization: '[REDACTED]', cookie: '[REDACTED]', 'user-agent': 'tester/1', 'x-request-id': 'req-42' });
  });
});
