import { trace as otel } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { SpanType, startSpan, trace, updateCurrentTrace, withSpan, type RedactionSite } from '@threadline/tracing';
import { exportedTraces, initInMemory, recordingLogger } from './support/sdk-setup.js';

// What is decided at export: the masking of what other instrumentations and the trace's metadata
// and tags hold under secret names, and which redaction a trace is exported with.

const allText = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

describe('masked at export', () => {
  it("another instrumentation's header attributes and event attributes under secret names", async () => {
    const exporter = initInMemory();
    withSpan(() => {
      const span = otel.getTracer('http-instrumentation').startSpan('GET /profile');
      span.setAttributes({ 'http.request.header.authorization': ['Bearer o1'], 'http.request.header.cookie': ['sid=o2'], 'http.request.header.accept': ['*/*'], 'http.response.status_code': 200 });
      span.addEvent('retry', { 'x-api-key': 'o3', attempt: 2 });
      span.end();
    }, { name: 'handler' });
    const [exported] = await exportedTraces(exporter);
    expect(allText(exported)).not.toMatch(/o1|o2|o3/);
    const http = exported!.spans.find((span) => span.name === 'GET /profile')!;
    expect(http.attributes).toMatchObject({ 'http.request.header.authorization': '[REDACTED]', 'http.request.header.cookie': '[REDACTED]', 'http.request.header.accept': ['*/*'], 'http.response.status_code': 200 });
    expect(http.events![0]!.attributes).toEqual({ 'x-api-key': '[REDACTED]', attempt: 2 });
  });

  it('metadata and tags under secret names', async () => {
    const exporter = initInMemory();
    trace(() => updateCurrentTrace({ metadata: { 'app.api_key': 'm1', 'app.region': 'eu' }, tags: { 'x-auth-token': 'm2', team: 'sdk' } }), { name: 'labelled' })();
    const [exported] = await exportedTraces(exporter);
    expect(exported!.info.trace_metadata).toMatchObject({ 'app.api_key': '[REDACTED]', 'app.region': 'eu' });
    expect(exported!.info.tags).toMatchObject({ 'x-auth-token': '[REDACTED]', team: 'sdk' });
  });
});

describe('which redaction a trace is exported with', () => {
  it('rules that cannot be applied stop the export (fail closed) and say why; a later init resumes it', async () => {
    const logger = recordingLogger();
    const refused = initInMemory({ logger, redact: { detectors: ['email', 'ssn' as never] } });
    trace(() => 'alice@example.com', { name: 'unredacted' })();
    expect(await exportedTraces(refused)).toEqual([]);
    expect(logger.messages).toContainEqual({ level: 'error', message: 'init(): the redact option cannot be applied; traces are recorded but not exported.' });

    const resumed = initInMemory({ redact: { detectors: ['email'] } });
    trace(() => 'alice@example.com', { name: 'redacted' })();
    const traces = await exportedTraces(resumed);
    expect(traces.map((t) => [t.spans[0]!.name, t.spans[0]!.attributes!['mlflow.spanOutputs']])).toEqual([['redacted', '[REDACTED:email]']]);
  });

  it('the redaction configured when a trace started; the application reads back its own values', async () => {
    initInMemory({ redact: { detectors: ['email'] } });
    const span = startSpan({ name: 'started-redacted', inputs: { to: 'alice@example.com' } });
    expect(span.inputs).toEqual({ to: 'alice@example.com' });
    const plain = initInMemory();
    span.end();
    trace((to: string) => to, { name: 'started-plain' })('bob@example.com');
    const traces = await exportedTraces(plain);
    expect(traces.map((t) => [t.spans[0]!.name, t.spans[0]!.attributes!['mlflow.spanInputs']])).toEqual([
      ['started-redacted', { to: '[REDACTED:email]' }],
      ['started-plain', { to: 'bob@example.com' }],
    ]);
  });

  it("the SDK's own values (span type, model, token usage) and values masked already go to no hook", async () => {
    const sites: RedactionSite[] = [];
    const exporter = initInMemory({ redact: (value, where) => (sites.push(where), value) });
    withSpan((span) => {
      span.setAttributes({ 'mlflow.llm.model': 'gpt-4.1-mini', 'mlflow.chat.tokenUsage': { input_tokens: 1, output_tokens: 2, total_tokens: 3 }, authorization: 'Bearer x', topic: 'billing' });
      span.setInputs('hello');
    }, { name: 'llm', spanType: SpanType.LLM });
    await exportedTraces(exporter);
    expect(sites).toContainEqual({ field: 'attributes', key: 'topic', spanName: 'llm' });
    expect(sites).toContainEqual({ field: 'inputs', spanName: 'llm' });
    expect(sites.filter((site) => site.key?.startsWith('mlflow.') || site.key === 'authorization')).toEqual([]);
  });
});
