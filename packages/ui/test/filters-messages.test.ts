import { describe, expect, it } from 'vitest';
import { combineTraceFilter, errorSpan, quote } from '../src/filters.js';
import { normalizeSpan, previewText, turnOf } from '../src/messages.js';
import type { SpanJson } from '@threadline/protocol';

describe('filter strings built by the UI', () => {
  it('quotes values by doubling single quotes', () => {
    expect(quote("o'brien")).toBe("'o''brien'");
    expect(quote("''")).toBe("''''''");
  });

  it('joins typed text and quick filters, parenthesising only an OR', () => {
    expect(combineTraceFilter('', { user: "o'brien", state: 'ERROR' }).filter).toBe("metadata.`mlflow.trace.user` = 'o''brien' AND trace.status = 'ERROR'");
    expect(combineTraceFilter("tags.a = 'x'", { session: 's' })).toEqual({ filter: "tags.a = 'x' AND metadata.`mlflow.trace.session` = 's'", textOffset: -0 });
    expect(combineTraceFilter("tags.a = 'x' OR tags.a = 'y'", { session: 's' })).toEqual({ filter: "(tags.a = 'x' OR tags.a = 'y') AND metadata.`mlflow.trace.session` = 's'", textOffset: 1 });
    const range = combineTraceFilter('', { range: '1h' }, Date.parse('2026-11-23T12:00:30Z')).filter;
    expect(range).toBe(`trace.timestamp_ms >= ${Date.parse('2026-11-23T11:00:00Z')}`);
  });

  it('filters on cost from the quick filter only with a number, so that the URL cannot write filter text', () => {
    expect(combineTraceFilter('', { cost: '0.10', state: 'OK' }).filter).toBe("trace.status = 'OK' AND trace.cost > 0.1");
    expect(combineTraceFilter('', { cost: "0 OR tags.x = 'y'" }).filter).toBe('');
  });

  it('finds the offending token from the position in the message', () => {
    const text = "trace.status = 'OK' tags.a = 'x'";
    expect(errorSpan("expected AND or OR before 'tags.a' at position 20.", text, 0)).toEqual({ start: 20, end: 26 });
    // Positions in the combined filter map back into the text; the last one in the text wins.
    const or = "a = 1 OR b >> 2";
    const { textOffset } = combineTraceFilter(or, { user: 'u' });
    expect(errorSpan("expected ')' to close the '(' at position 0, found '>>' at position 12.", or, textOffset)).toEqual({ start: 11, end: 13 });
    expect(errorSpan("bad value 'it''s' at position 4", "x = 'it''s'", 0)).toEqual({ start: 4, end: 8 });
    expect(errorSpan('no position here', text, 0)).toBeNull();
  });
});

const span = (attributes: Record<string, unknown>): SpanJson => ({ trace_id: '', span_id: 'AAAAAAAAAAE=', name: 'root', start_time_unix_nano: 0, status: { code: 'STATUS_CODE_OK' }, attributes });

describe('a turn from the root span', () => {
  it('takes the last user message, the tool steps after it and the assistant reply (OpenAI chat)', () => {
    const call = { id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } };
    const root = span({
      'mlflow.spanInputs': JSON.stringify({ messages: [
        { role: 'system', content: 'sys' }, { role: 'user', content: 'first' }, { role: 'assistant', content: 'one' },
        { role: 'user', content: [{ type: 'text', text: 'weather?' }] },
        { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: 'c1', content: '14C' },
      ] }),
      'mlflow.spanOutputs': JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'It is 14C.' } }] }),
    });
    const turn = turnOf(root);
    expect(turn.user).toBe('weather?');
    expect(turn.assistant).toBe('It is 14C.');
    expect(turn.steps.map((m) => m.role)).toEqual(['assistant', 'tool']);
    expect(turn.steps[0]!.toolCalls).toEqual([{ id: 'c1', name: 'weather', arguments: '{"city":"Paris"}' }]);
  });

  it('falls back to simple inputs, then to the previews', () => {
    expect(turnOf(span({ 'mlflow.spanInputs': JSON.stringify({ message: 'hi' }), 'mlflow.spanOutputs': JSON.stringify('hello') }))).toMatchObject({ user: 'hi', assistant: 'hello' });
    expect(turnOf(undefined, 'req', 'resp')).toMatchObject({ user: 'req', assistant: 'resp', steps: [] });
    // An empty preview (a failed turn) is no reply, not an empty one.
    expect(turnOf(undefined, 'req', '')).toMatchObject({ assistant: null });
  });

  it('reads previews as the session page reads turns: the message inside their JSON, not the JSON', () => {
    expect(previewText('{"message":"Where is my parcel?"}', 'request')).toBe('Where is my parcel?');
    expect(previewText(JSON.stringify({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] }), 'request')).toBe('hi');
    expect(previewText(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'hello' } }] }), 'response')).toBe('hello');
    expect(previewText(JSON.stringify('He said "soon".'), 'response')).toBe('He said "soon".');
    expect(turnOf(undefined, '{"query":"q"}', '"a"')).toMatchObject({ user: 'q', assistant: 'a' });
    // Plain text, and JSON cut short by the preview's limit, stay as they are.
    expect(previewText('plain {text}', 'request')).toBe('plain {text}');
    expect(previewText('{"message":"cut sho', 'request')).toBe('{"message":"cut sho');
    expect(previewText(JSON.stringify({ a: 1 }), 'request')).toBe('{"a":1}');
  });

  it('reads the server’s OTLP-style attribute lists', () => {
    const served = { ...span({}), attributes: [{ key: 'mlflow.spanInputs', value: { string_value: '{"message":"hey"}' } }], events: [{ name: 'exception', time_unix_nano: 1, attributes: [{ key: 'exception.message', value: { string_value: 'boom' } }] }] } as unknown as SpanJson;
    const normal = normalizeSpan(served);
    expect(turnOf(normal).user).toBe('hey');
    expect(normal.events![0]!.attributes).toEqual({ 'exception.message': 'boom' });
  });
});
