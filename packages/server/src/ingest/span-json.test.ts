import { describe, expect, it } from 'vitest';
import { stringifyJson } from '../json.js';
import type { SpanRecord } from '../trace-model.js';
import { hexToBase64, spanToMlflowJson } from './span-json.js';

/** The span as one `stringifyJson` of the whole object: what spans stored before were written as. */
function wholeObjectJson(traceId: string, span: SpanRecord): string {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(span.attributes)) attributes[key] = JSON.stringify(value ?? null);
  return stringifyJson({
    trace_id: hexToBase64(traceId.slice(3)),
    span_id: hexToBase64(span.spanId),
    parent_span_id: span.parentSpanId === null ? null : hexToBase64(span.parentSpanId),
    name: span.name,
    start_time_unix_nano: span.startNs,
    end_time_unix_nano: span.endNs,
    status: { code: span.status === 'OK' ? 'STATUS_CODE_OK' : span.status === 'ERROR' ? 'STATUS_CODE_ERROR' : 'STATUS_CODE_UNSET', message: span.statusMessage },
    attributes,
    events: span.events.map((e) => ({ name: e.name, time_unix_nano: e.timeNs, attributes: e.attributes })),
  });
}

const TRACE = 'tr-0123456789abcdef0123456789abcdef';
const base: SpanRecord = {
  spanId: 'a1b2c3d4e5f60718',
  parentSpanId: null,
  name: 'chat "turn" é \u2028',
  type: 'LLM',
  status: 'OK',
  statusMessage: '',
  startNs: 1_795_463_486_775_000_001n,
  endNs: 1_795_463_486_999_000_003n,
  attributes: { 'mlflow.spanInputs': { messages: [{ role: 'user', content: 'hi\n"there"' }] }, n: 3, none: null, flag: true },
  events: [],
};

describe('spanToMlflowJson', () => {
  it.each([
    ['a root span', base],
    ['a child, still running', { ...base, parentSpanId: '0f0e0d0c0b0a0908', endNs: null, status: 'UNSET' as const }],
    ['an error with events holding BigInts', { ...base, status: 'ERROR' as const, statusMessage: 'boom', events: [{ name: 'exception', timeNs: 1_795_463_486_800_000_007n, attributes: { big: 9_007_199_254_740_993n, text: 'x' } }] }],
    ['no attributes', { ...base, attributes: {} }],
  ])('writes %s exactly as the whole object would be written, times as bare exact integers', (_name, span) => {
    const text = spanToMlflowJson(TRACE, span);
    expect(text).toBe(wholeObjectJson(TRACE, span));
    expect(text).toContain(`"start_time_unix_nano":${span.startNs}`);
  });
});
