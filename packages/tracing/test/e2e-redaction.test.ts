import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTraces, getLastActiveTraceId, init, ThreadlineClient, trace, tracingContext, updateCurrentTrace, withSpan, type RedactionSite, type Span } from '@threadline/tracing';
import { recordingLogger } from './support/sdk-setup.js';
import { storedTraceText } from './support/stored-trace.js';
import { startTrackingServer, type TestTrackingServer } from './support/tracking-server.js';

// init({ redact }) end to end: what the server keeps of a trace (info, search listing, spans) has
// every detector's finds and the operator's own patterns replaced, in inputs, outputs, attributes,
// events, status messages, previews, metadata and tags; the user and session ids are untouched.

const EMAIL = 'alice@example.com';
const PHONE = '+1 415 555 0100';
const CARD = '4111 1111 1111 1111';
const KEY = 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z';
const BEARER = 'Bearer 9f8e7d6c5b4a3210';
const EMPLOYEE = 'EMP-123456';
const ACCOUNT = 'ACME-ABCD';
// Ids that the detectors would find, were they redacted: an e-mail address and an E.164 number.
const USER = 'carol@users.example';
const SESSION = 'support-+14155550199';
const NEAR_MISSES = 'order 1716400000, test card 4111 1111 1111 1112, app v1.2.3';

let server: TestTrackingServer;
beforeAll(async () => {
  server = await startTrackingServer();
});
afterAll(async () => {
  await server?.close();
});

/** A value read back from the server; over OTLP an object attribute outside mlflow.* comes back as its JSON text. */
function attribute(span: Span | undefined, key: string): unknown {
  const value = span?.getAttribute(key);
  return typeof value === 'string' && value.startsWith('{') ? JSON.parse(value) : value;
}

/** The customer-support handler of the tests: sensitive data in every place a trace holds text. */
const support = trace(
  async (message: string, context: { note: string; lines: string[] }) => {
    updateCurrentTrace({ requestPreview: `Ticket from ${PHONE}`, metadata: { 'app.contact': EMAIL, 'app.version': '1.2.3' }, tags: { reporter: EMAIL } });
    withSpan((span) => {
      span.setAttribute('note', `call ${PHONE}`);
      span.setAttribute('profile', { email: EMAIL, card: CARD });
      span.addEvent({ name: 'lookup', attributes: { query: EMAIL } });
    }, { name: 'lookup' });
    try {
      withSpan(() => {
        throw new Error(`no account for ${EMAIL}`);
      }, { name: 'fail' });
    } catch {
      // The handler carries on: the failure is on the span.
    }
    return `Replied to ${EMAIL} about card ${CARD}; ${NEAR_MISSES}`;
  },
  { name: 'support' },
);
const ticket = `My email is ${EMAIL}, card ${CARD}, key ${KEY}, header Authorization: ${BEARER}, employee ${EMPLOYEE}, call ${PHONE}`;

describe.each(['mlflow', 'otlp'] as const)('init({ redact: rules }) (%s exporter)', (exporter) => {
  let client: ThreadlineClient;
  beforeAll(async () => {
    const experimentId = await new ThreadlineClient({ trackingUri: server.url }).createExperiment(`redaction-${exporter}`);
    init({
      trackingUri: server.url,
      experimentId,
      exporter,
      scheduledDelayMillis: 10,
      logger: recordingLogger(),
      redact: { detectors: ['email', 'phone', 'credit_card', 'api_key', 'bearer_token'], patterns: [/\bEMP-\d{6}\b/, { pattern: /ACME-[A-Z]{4}/, replacement: '[ACCOUNT]' }] },
    });
    client = new ThreadlineClient({ trackingUri: server.url, experimentId });
  });

  it('every detector and both custom patterns, everywhere the trace holds text; user and session ids unchanged', async () => {
    const reply = await tracingContext({ user: USER, sessionId: SESSION }, () => support(ticket, { note: `account ${ACCOUNT}`, lines: [EMAIL, 'no data here'] }));
    // The application gets its own values: redaction is applied to what is exported, not to the app.
    expect(reply).toContain(EMAIL);
    const traceId = getLastActiveTraceId()!;
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);

    const raw = await storedTraceText(server.url, traceId);
    const all = `${raw.info}\n${raw.search}\n${raw.spans}`;
    for (const found of [EMAIL, PHONE, CARD, KEY, '9f8e7d6c5b4a3210', EMPLOYEE, ACCOUNT]) expect(all).not.toContain(found);
    for (const kept of ['1716400000', '4111 1111 1111 1112', 'v1.2.3', '1.2.3', USER, SESSION]) expect(all).toContain(kept);

    const { info, data } = await client.getTrace(traceId);
    const byName = Object.fromEntries(data.spans.map((span) => [span.name, span]));
    expect(byName.support!.inputs).toEqual({
      message: 'My email is [REDACTED:email], card [REDACTED:credit_card], key [REDACTED:api_key], header [REDACTED:bearer_token], employee [REDACTED], call [REDACTED:phone]',
      context: { note: 'account [ACCOUNT]', lines: ['[REDACTED:email]', 'no data here'] },
    });
    expect(byName.support!.outputs).toBe(`Replied to [REDACTED:email] about card [REDACTED:credit_card]; ${NEAR_MISSES}`);
    expect(attribute(byName.lookup, 'note')).toBe('call [REDACTED:phone]');
    expect(attribute(byName.lookup, 'profile')).toEqual({ email: '[REDACTED:email]', card: '[REDACTED:credit_card]' });
    expect(byName.lookup!.events.find((event) => event.name === 'lookup')?.attributes).toEqual({ query: '[REDACTED:email]' });
    expect(byName.fail!.status.description).toBe('no account for [REDACTED:email]');
    const exception = byName.fail!.events.find((event) => event.name === 'exception')!.attributes!;
    expect(exception['exception.message']).toBe('no account for [REDACTED:email]');

    expect(info.responsePreview).toContain('Replied to [REDACTED:email]');
    expect(info.traceMetadata).toMatchObject({ 'mlflow.trace.user': USER, 'mlflow.trace.session': SESSION });
    expect(info.tags.reporter).toBe('[REDACTED:email]');
    if (exporter === 'mlflow') {
      // OTLP carries the trace's user, session and tags, not its own previews or other metadata.
      expect(info.requestPreview).toBe('Ticket from [REDACTED:phone]');
      expect(info.traceMetadata).toMatchObject({ 'app.contact': '[REDACTED:email]', 'app.version': '1.2.3' });
    }
    expect(attribute(byName.support, 'user.id')).toBe(USER);
    expect(attribute(byName.support, 'session.id')).toBe(SESSION);
    // The ids still find the trace.
    const { traces } = await client.searchTraces({ filter: `metadata.\`mlflow.trace.user\` = '${USER}' AND metadata.\`mlflow.trace.session\` = '${SESSION}'` });
    expect(traces.map((t) => t.traceId)).toEqual([traceId]);
  });
});

describe('init({ redact: hook })', () => {
  it("runs the operator's hook on every string with where it comes from; a failing hook masks the value (fail closed), logs once, and never reaches the app", async () => {
    const experimentId = await new ThreadlineClient({ trackingUri: server.url }).createExperiment('redaction-hook');
    const logger = recordingLogger();
    const sites: RedactionSite[] = [];
    init({
      trackingUri: server.url,
      experimentId,
      scheduledDelayMillis: 10,
      logger,
      redact: (value, where) => {
        sites.push(where);
        if (value.includes('boom')) throw new Error('hook exploded');
        if (value.includes('odd')) return 42 as unknown as string;
        return value.replaceAll('secret-word', '***');
      },
    });
    const hooked = trace((form: { a: string; b: string; nested: { c: string; d: string } }) => 'boom in the output', { name: 'hooked' });
    expect(tracingContext({ user: 'boom-user', sessionId: 'boom-session' }, () => hooked({ a: 'a secret-word here', b: 'boom value', nested: { c: 'secret-word', d: 'odd one' } }))).toBe('boom in the output');
    const traceId = getLastActiveTraceId()!;
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);

    const client = new ThreadlineClient({ trackingUri: server.url, experimentId });
    const { info, data } = await client.getTrace(traceId);
    expect(data.spans[0]!.inputs).toEqual({ form: { a: 'a *** here', b: '[REDACTED]', nested: { c: '***', d: '[REDACTED]' } } });
    expect(data.spans[0]!.outputs).toBe('[REDACTED]');
    expect(info.responsePreview).toBe('[REDACTED]');
    // The ids go to no hook: they stay as they were.
    expect(info.traceMetadata).toMatchObject({ 'mlflow.trace.user': 'boom-user', 'mlflow.trace.session': 'boom-session' });
    const raw = await storedTraceText(server.url, traceId);
    expect(`${raw.info}${raw.spans}`).not.toMatch(/secret-word|boom value|boom in the output|odd one/);

    expect(sites).toContainEqual({ field: 'inputs', key: 'a', spanName: 'hooked' });
    expect(sites).toContainEqual({ field: 'inputs', key: 'c', spanName: 'hooked' });
    expect(sites).toContainEqual({ field: 'outputs', spanName: 'hooked' });
    expect(sites.some((site) => site.key === 'user.id' || site.key === 'mlflow.trace.user')).toBe(false);
    const failures = logger.messages.filter((m) => m.message.includes('redaction hook failed'));
    expect(failures).toEqual([{ level: 'error', message: 'The redaction hook failed; every value it fails on is exported as [REDACTED].' }]);
  });
});
