import { describe, expect, it } from 'vitest';
import { REDACTION_RULES_REFRESH_MS, RedactionPolicy } from '../src/redaction/redaction-policy.js';
import { withRedaction } from '../src/redaction/redacting-store.js';
import type { RedactionRules } from '../src/redaction/rules.js';
import type { TraceStore } from '../src/store/store.js';
import type { SpanRecord, TraceRecord } from '../src/trace-model.js';

/** Experiments' rules as a test sets them, counting reads; a read can be made to fail or wait. */
class FakeRules {
  rules = new Map<string, RedactionRules>();
  reads = 0;
  fail = false;
  gate: Promise<void> | undefined;

  /** What the rules were when the read began, as a query's snapshot would be. */
  async list(): Promise<Map<string, RedactionRules>> {
    this.reads++;
    const snapshot = new Map([...this.rules].map(([id, r]) => [id, structuredClone(r) as RedactionRules]));
    const fail = this.fail;
    await this.gate;
    if (fail) throw new Error('database down');
    return snapshot;
  }
}

const EMAIL: RedactionRules = { detectors: ['email'], patterns: [] };
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('RedactionPolicy', () => {
  it('redacts nothing where no rule applies, and by the server’s rules plus the experiment’s elsewhere', async () => {
    const source = new FakeRules();
    source.rules.set('2', { detectors: [], patterns: [{ name: 'employee_id', pattern: 'EMP-\\d{6}' }] });
    expect(await new RedactionPolicy({ detectors: [], patterns: [] }, source).forExperiment('1')).toBeNull();

    const policy = new RedactionPolicy(EMAIL, source);
    expect((await policy.forExperiment('1'))!.text('bob@example.com EMP-123456')).toBe('[REDACTED:email] EMP-123456');
    // An experiment's rules add to the server's; they cannot take one away.
    expect((await policy.forExperiment('2'))!.text('bob@example.com EMP-123456')).toBe('[REDACTED:email] [REDACTED:employee_id]');
    expect(await policy.anyExperimentRules()).toBe(true);
  });

  it('reads again at once after invalidate(), in the background after the refresh delay, and keeps rules when a read fails', async () => {
    let now = 1_000_000;
    const source = new FakeRules();
    const policy = new RedactionPolicy({ detectors: [], patterns: [] }, source, () => now);
    expect(await policy.forExperiment('1')).toBeNull();
    expect(source.reads).toBe(1);

    // Set through this replica: the next write waits for the new rules.
    source.rules.set('1', EMAIL);
    policy.invalidate();
    const first = await policy.forExperiment('1');
    expect(first!.text('bob@example.com')).toBe('[REDACTED:email]');
    expect(source.reads).toBe(2);
    // Unchanged rules: the same compiled redactor, no read.
    expect(await policy.forExperiment('1')).toBe(first);
    expect(source.reads).toBe(2);

    // Set through another replica: seen once the refresh delay has passed; writes never wait for it.
    source.rules.delete('1');
    now += REDACTION_RULES_REFRESH_MS;
    let release!: () => void;
    source.gate = new Promise((resolve) => (release = resolve));
    expect(await policy.forExperiment('1')).toBe(first);
    release();
    await settle();
    expect(await policy.forExperiment('1')).toBeNull();

    // A failed background read keeps the rules it has.
    source.rules.set('1', EMAIL);
    policy.invalidate();
    await policy.forExperiment('1');
    source.fail = true;
    now += REDACTION_RULES_REFRESH_MS;
    expect((await policy.forExperiment('1'))!.text('bob@example.com')).toBe('[REDACTED:email]');
    await settle();
    expect((await policy.forExperiment('1'))!.text('bob@example.com')).toBe('[REDACTED:email]');
  });

  it('refuses writes while it has never read the rules, or cannot read changed ones', async () => {
    const source = new FakeRules();
    source.fail = true;
    const policy = new RedactionPolicy(EMAIL, source);
    await expect(policy.forExperiment('1')).rejects.toThrow('database down');
    source.fail = false;
    await policy.forExperiment('1');
    source.fail = true;
    policy.invalidate();
    await expect(policy.forExperiment('1')).rejects.toThrow('database down');
  });

  it('waits for a read started after invalidate(), not for one already running', async () => {
    let now = 0;
    const source = new FakeRules();
    const policy = new RedactionPolicy({ detectors: [], patterns: [] }, source, () => now);
    await policy.forExperiment('1');
    now += REDACTION_RULES_REFRESH_MS;
    let release!: () => void;
    source.gate = new Promise((resolve) => (release = resolve));
    await policy.forExperiment('1'); // starts a background read, held at the gate with the old rules
    source.rules.set('1', EMAIL);
    policy.invalidate();
    const redactor = policy.forExperiment('1');
    source.gate = undefined;
    release();
    expect((await redactor)!.text('bob@example.com')).toBe('[REDACTED:email]');
  });
});

describe('withRedaction', () => {
  const record: TraceRecord = {
    traceId: 'tr-1',
    experimentId: '1',
    clientRequestId: null,
    requestTimeMs: 0,
    executionDurationMs: null,
    state: 'OK' as TraceRecord['state'],
    requestPreview: 'bob@example.com',
    responsePreview: null,
    metadata: {},
    tags: {},
  };
  const span: SpanRecord = {
    spanId: '0123456789abcdef',
    parentSpanId: null,
    name: 's',
    type: null,
    status: 'OK',
    statusMessage: '',
    startNs: 0n,
    endNs: null,
    attributes: { 'mlflow.spanInputs': 'bob@example.com' },
    events: [],
  };

  /** A store that records what reaches it; other methods answer their own name. */
  function fakeStore() {
    const received: unknown[] = [];
    const store = new Proxy({} as TraceStore, {
      get: (_target, key) =>
        key === 'startTrace' || key === 'logSpans' || key === 'ingestSpans'
          ? async (...args: unknown[]) => void received.push(...args)
          : key === 'experimentsOfTraces'
            ? async () => ['1']
            : async () => key,
    });
    return { store, received };
  }

  it('hands records to the store untouched, not copied, where no rule applies', async () => {
    const { store, received } = fakeStore();
    const redacting = withRedaction(store, new RedactionPolicy({ detectors: [], patterns: [] }, new FakeRules()));
    await redacting.startTrace(record);
    const spans = [span];
    await redacting.logSpans('tr-1', spans, { experimentId: '1' });
    expect(received[0]).toBe(record);
    expect(received[3]).toBe(spans);
    expect(await redacting.getTrace('tr-1')).toBe('getTrace');
  });

  it('redacts what it hands on where a rule applies, the trace’s experiment found when the write does not name it', async () => {
    const { store, received } = fakeStore();
    const rules = new FakeRules();
    rules.rules.set('1', EMAIL);
    const redacting = withRedaction(store, new RedactionPolicy({ detectors: [], patterns: [] }, rules));
    await redacting.startTrace(record);
    await redacting.logSpans('tr-1', [span]);
    expect((received[0] as TraceRecord).requestPreview).toBe('[REDACTED:email]');
    expect((received[3] as SpanRecord[])[0]!.attributes['mlflow.spanInputs']).toBe('[REDACTED:email]');
    expect(record.requestPreview).toBe('bob@example.com');
  });
});
