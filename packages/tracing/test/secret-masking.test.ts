import { beforeEach, describe, expect, it } from 'vitest';
import { trace, withSpan, type InMemoryTraceExporter } from '@threadline/tracing';
import { exportedTraces, initInMemory } from './support/sdk-setup.js';

// Credentials are never recorded, whatever the redaction settings: values under secret names, in
// every shape headers come in, and API client objects. Everything else is recorded as it was.

let exporter: InMemoryTraceExporter;
beforeEach(() => {
  exporter = initInMemory();
});

/** Everything exported, as one text (nanosecond times are BigInts). */
const allText = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

async function onlySpan(): Promise<{ attributes: Record<string, unknown>; text: string }> {
  const traces = await exportedTraces(exporter);
  expect(traces).toHaveLength(1);
  return { attributes: traces[0]!.spans[0]!.attributes as Record<string, unknown>, text: allText(traces[0]) };
}

describe('masked always', () => {
  it('values under secret names, any case and spelling, at any depth; counts and logprob tokens are kept', async () => {
    const call = trace((request: unknown) => ({ ok: true, request }), { name: 'call' });
    call({
      headers: { Authorization: 'Bearer h1', 'Proxy-Authorization': 'Basic h2', cookie: 'sid=h3', 'Set-Cookie': ['h4=1'], 'x-api-key': 'h5', 'api-key': 'h6', accept: 'application/json' },
      config: { apiKey: 'h7', api_key: 'h8', API_KEY: 'h9', password: 'h10', client_secret: 'h11', access_token: 'h12', refresh_token: 'h13', OPENAI_API_KEY: 'h14', id_token: 'h15' },
      params: { max_tokens: 256, total_tokens: 300, next_page_token: 'page-2', hasApiKey: true, password: null, model: 'gpt-4.1-mini' },
      logprobs: { content: [{ token: 'Hello', logprob: -0.1 }] },
    });
    const { attributes, text } = await onlySpan();
    for (let i = 1; i <= 15; i++) expect(text).not.toMatch(new RegExp(`\\bh${i}\\b`));
    const request = (attributes['mlflow.spanInputs'] as { request: Record<string, Record<string, unknown>> }).request;
    expect(request.headers).toEqual({
      Authorization: '[REDACTED]',
      'Proxy-Authorization': '[REDACTED]',
      cookie: '[REDACTED]',
      'Set-Cookie': '[REDACTED]',
      'x-api-key': '[REDACTED]',
      'api-key': '[REDACTED]',
      accept: 'application/json',
    });
    expect(request.params).toEqual({ max_tokens: 256, total_tokens: 300, next_page_token: 'page-2', hasApiKey: true, password: null, model: 'gpt-4.1-mini' });
    expect(request.logprobs).toEqual({ content: [{ token: 'Hello', logprob: -0.1 }] });
    // The outputs hold the same object: masked the same way.
    expect((attributes['mlflow.spanOutputs'] as { request: unknown }).request).toEqual(request);
  });

  it('headers in every shape: WHATWG Headers, Node rawHeaders, [name, value] pairs, a Map', async () => {
    const call = trace((init: unknown, raw: unknown, pairs: unknown, map: unknown) => 'sent', { name: 'fetch-like' });
    call(
      { method: 'POST', headers: new Headers({ Authorization: 'Bearer w1', 'Content-Type': 'application/json' }) },
      { rawHeaders: ['Host', 'example.com', 'Cookie', 'sid=w2', 'X-Api-Key', 'w3'] },
      [['authorization', 'Bearer w4'], ['accept', '*/*']],
      new Map([['Authorization', 'Bearer w5'], ['accept', 'text/plain']]),
    );
    const { attributes, text } = await onlySpan();
    for (const secret of ['w1', 'w2', 'w3', 'w4', 'w5']) expect(text).not.toContain(secret);
    expect(attributes['mlflow.spanInputs']).toEqual({
      init: { method: 'POST', headers: { authorization: '[REDACTED]', 'content-type': 'application/json' } },
      raw: { rawHeaders: ['Host', 'example.com', 'Cookie', '[REDACTED]', 'X-Api-Key', '[REDACTED]'] },
      pairs: [['authorization', '[REDACTED]'], ['accept', '*/*']],
      map: { Authorization: '[REDACTED]', accept: 'text/plain' },
    });
  });

  it('arguments of parameters with secret names; attributes with secret names, set any way', async () => {
    const connect = trace((host: string, password: string, apiKey?: string) => `connected to ${host}`, { name: 'connect', attributes: { api_key: 'a1', region: 'eu' } });
    connect('db.internal', 'a2', 'a3');
    withSpan((span) => {
      span.setAttribute('authorization', 'Bearer a4');
      span.setAttributes({ credentials: { password: 'a5', user: 'svc' }, 'x-auth-token': 'a6', tokens: 12 });
    }, { name: 'attributes' });
    const traces = await exportedTraces(exporter);
    const text = allText(traces);
    for (const secret of ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']) expect(text).not.toMatch(new RegExp(`"${secret}"|Bearer ${secret}`));
    const [first, second] = traces.map((t) => t.spans[0]!.attributes as Record<string, unknown>);
    expect(first!['mlflow.spanInputs']).toEqual({ host: 'db.internal', password: '[REDACTED]', apiKey: '[REDACTED]' });
    expect(first).toMatchObject({ api_key: '[REDACTED]', region: 'eu' });
    expect(second).toMatchObject({ authorization: '[REDACTED]', credentials: { password: '[REDACTED]', user: 'svc' }, 'x-auth-token': '[REDACTED]', tokens: 12 });
  });

  it('class instances: an API client becomes its name; other objects keep their fields, credentials masked', async () => {
    class ExampleClient {
      baseURL = 'https://api.example.com';
      apiKey = 'c1';
      defaultHeaders = { 'x-tenant': 'c2' };
    }
    class DatabaseConfig {
      host = 'db.internal';
      password = 'c3';
    }
    class Vendor {
      baseUrl = 'https://vendor.example.com';
      secret = 'c4';
    }
    const call = trace((client: unknown, config: unknown, vendor: unknown) => 'ok', { name: 'instances' });
    call(new ExampleClient(), new DatabaseConfig(), new Vendor());
    const { attributes, text } = await onlySpan();
    for (const secret of ['c1', 'c2', 'c3', 'c4']) expect(text).not.toContain(`"${secret}"`);
    expect(attributes['mlflow.spanInputs']).toEqual({ client: '[ExampleClient]', config: { host: 'db.internal', password: '[REDACTED]' }, vendor: '[Vendor client]' });
  });

  it('plain data without secrets is recorded exactly as before', async () => {
    const messages = [{ role: 'user', content: 'My password is hunter2' }];
    const chat = trace((history: typeof messages, options: { temperature: number; key: string; token: string }) => 'ok', { name: 'chat' });
    chat(messages, { temperature: 0.2, key: 'cache-1', token: 'Hello' });
    const { attributes } = await onlySpan();
    // A password in free text is not found by name: that is what redaction rules are for.
    expect(attributes['mlflow.spanInputs']).toEqual({ history: messages, options: { temperature: 0.2, key: 'cache-1', token: 'Hello' } });
  });
});
