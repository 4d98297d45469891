import type { TraceStore } from '../store/store.js';
import { redactAssessment, redactAssessmentChanges, redactBatchFields, redactSpan, redactTagValue, redactTraceRecord } from './record-redaction.js';
import type { RedactionPolicy } from './redaction-policy.js';
import type { TextRedactor } from './text-redactor.js';

/** The store's methods that take what a client wrote about a trace: each redacts it first. */
type RedactedWrite =
  | 'startTrace'
  | 'logSpans'
  | 'ingestSpans'
  | 'setTraceTag'
  | 'createAssessment'
  | 'updateAssessment'
  | 'createSessionAssessment'
  | 'updateSessionAssessment';

/** The rest: reads, deletes, experiments, prices, and the rules themselves. */
const PASSED_THROUGH = [
  // Reads spans already stored, so already redacted.
  'textIndex',
  'createExperiment',
  'getExperiment',
  'getExperimentByName',
  'searchExperiments',
  'renameExperiment',
  'setExperimentLifecycle',
  'setExperimentTag',
  'deleteExperimentTag',
  'getTrace',
  'getTraces',
  'experimentsOfTraces',
  'getSpans',
  'searchTraces',
  'deleteTraceTag',
  'deleteTraces',
  'getAssessment',
  'deleteAssessment',
  'listSessionAssessments',
  'getSessionAssessment',
  'deleteSessionAssessment',
  'searchSessions',
  'getSessionTraces',
  'searchUsers',
  'filterSuggestions',
  'traceMetrics',
  'feedbackMetrics',
  'modelMetrics',
  'pricing',
  'redactionRules',
  'erasures',
  'retention',
  'spanCosts',
  'changes',
  'queryMetricDataPoints',
  'ping',
  'close',
] as const satisfies readonly (keyof TraceStore)[];

// A method added to TraceStore fails to compile here until it is put in one list or the other:
// no new way to write a trace can skip redaction unnoticed.
type Unclassified = Exclude<keyof TraceStore, RedactedWrite | (typeof PASSED_THROUGH)[number]>;
const EVERY_MEMBER_CLASSIFIED: [Unclassified] extends [never] ? true : Unclassified = true;
void EVERY_MEMBER_CLASSIFIED;

/**
 * The store as every route sees it: each write of trace content (info, spans from the MLflow API
 * or OTLP, tags, assessments) redacted by the rules of its experiment before it reaches the
 * store, everything else passed through. Where no rule applies the records go through untouched,
 * not copied. One place all ways in pass through, so that none can skip redaction.
 *
 * @example
 * const store = withRedaction(await createStore(uri), new RedactionPolicy(serverRules, rulesTable));
 */
export function withRedaction(store: TraceStore, policy: RedactionPolicy): TraceStore {
  /** The redactor for a write that names a trace but not its experiment. */
  const forTrace = async (traceId: string): Promise<TextRedactor | null> => {
    if (!(await policy.anyExperimentRules())) return policy.serverRedactor;
    const [experimentId] = await store.experimentsOfTraces([traceId]);
    // A missing trace: the store refuses the write, with its own error.
    return experimentId === undefined ? policy.serverRedactor : policy.forExperiment(experimentId);
  };

  const writes: Pick<TraceStore, RedactedWrite> = {
    async startTrace(record, assessments) {
      const r = await policy.forExperiment(record.experimentId);
      if (r === null) return store.startTrace(record, assessments);
      return store.startTrace(redactTraceRecord(r, record), assessments?.map((a) => redactAssessment(r, a)));
    },
    async logSpans(traceId, spans, options) {
      const r = options?.experimentId !== undefined ? await policy.forExperiment(options.experimentId) : await forTrace(traceId);
      return store.logSpans(traceId, r === null ? spans : spans.map((s) => redactSpan(r, s)), options);
    },
    async ingestSpans(experimentId, traceId, fields, spans) {
      const r = await policy.forExperiment(experimentId);
      if (r === null) return store.ingestSpans(experimentId, traceId, fields, spans);
      return store.ingestSpans(experimentId, traceId, redactBatchFields(r, fields), spans.map((s) => redactSpan(r, s)));
    },
    async setTraceTag(traceId, key, value) {
      const r = await forTrace(traceId);
      return store.setTraceTag(traceId, key, r === null ? value : redactTagValue(r, key, value));
    },
    async createAssessment(traceId, input) {
      const r = await forTrace(traceId);
      return store.createAssessment(traceId, r === null ? input : redactAssessment(r, input));
    },
    async updateAssessment(traceId, assessmentId, changes) {
      const r = await forTrace(traceId);
      return store.updateAssessment(traceId, assessmentId, r === null ? changes : redactAssessmentChanges(r, changes));
    },
    async createSessionAssessment(session, input) {
      const r = await policy.forExperiment(session.experimentId);
      return store.createSessionAssessment(session, r === null ? input : redactAssessment(r, input));
    },
    async updateSessionAssessment(session, assessmentId, changes) {
      const r = await policy.forExperiment(session.experimentId);
      return store.updateSessionAssessment(session, assessmentId, r === null ? changes : redactAssessmentChanges(r, changes));
    },
  };

  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, key) {
      if (Object.hasOwn(writes, key)) return writes[key as RedactedWrite];
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      // Methods run on the store itself, not on the proxy.
      let method = bound.get(key);
      if (method === undefined) bound.set(key, (method = (value as (...args: unknown[]) => unknown).bind(target)));
      return method;
    },
  });
}
