import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-store.js';
import { describeEachDatabase } from './support/databases.js';
import { hexSpanId, hexTraceId, otlpRequest } from './support/otlp-payloads.js';
import { runCli } from './support/server-process.js';
import { useTestApp } from './support/test-app.js';

const T0 = Date.UTC(2026, 10, 4, 9);

describeEachDatabase('prices over HTTP', (database) => {
  const t = useTestApp(database);
  const put = (model: string, body: unknown) => t.app.inject({ method: 'PUT', url: `/api/threadline/prices/${encodeURIComponent(model)}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

  it('sets, lists, changes and removes a price, which applies to traces logged afterwards', async () => {
    const before = await t.get('/api/threadline/prices');
    expect(before.json()).toEqual({ prices: [] });
    const set = await put('our-finetune:v2', { input_per_mtok: 3, output_per_mtok: 12, cache_read_per_mtok: 1 });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().price).toMatchObject({ model: 'our-finetune:v2', input_per_mtok: 3, output_per_mtok: 12, cache_read_per_mtok: 1, cache_write_per_mtok: null, updated_by: 'anonymous' });
    expect((await t.get('/api/threadline/prices')).json().prices.map((p: { model: string }) => p.model)).toEqual(['our-finetune:v2']);

    const traceId = hexTraceId();
    const res = await t.app.inject({
      method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(otlpRequest([{ traceId, spanId: hexSpanId(), startMs: T0, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'our-finetune:v2', 'gen_ai.usage.input_tokens': 1_000_000, 'gen_ai.usage.output_tokens': 0 } }])),
    });
    expect(res.statusCode, res.body).toBe(200);
    const cost = JSON.parse((await t.get(`/api/3.0/mlflow/traces/tr-${traceId}`)).json().trace.trace_info.trace_metadata['mlflow.trace.cost']);
    expect(cost.total_cost).toBe(3);

    expect((await t.app.inject({ method: 'DELETE', url: '/api/threadline/prices/our-finetune%3Av2' })).statusCode).toBe(200);
    expect((await t.get('/api/threadline/prices')).json()).toEqual({ prices: [] });
    const again = await t.app.inject({ method: 'DELETE', url: '/api/threadline/prices/our-finetune%3Av2' });
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ error_code: 'RESOURCE_DOES_NOT_EXIST' });
  });

  it('refuses bad prices with MLflow error JSON and changes nothing', async () => {
    for (const body of [{ output_per_mtok: 1 }, { input_per_mtok: -1, output_per_mtok: 1 }, { input_per_mtok: '2', output_per_mtok: 1 }, { input_per_mtok: 1, output_per_mtok: 1e9 }, [1, 2]]) {
      const res = await put('m', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
    }
    expect((await put(' ', { input_per_mtok: 1, output_per_mtok: 1 })).statusCode).toBe(400);
    expect((await t.get('/api/threadline/prices')).json()).toEqual({ prices: [] });
  });
});

describe('threadline prices and reprice (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'threadline-prices-'));
  const uri = `sqlite:///${join(dir, 'store.db')}`;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sets a price and re-prices stored traces with it, rollups included', async () => {
    const traceId = `tr-${hexTraceId()}`;
    const store = await createStore(uri);
    try {
      await store.ingestSpans('0', traceId, { metadata: { 'mlflow.trace.session': 's-cli' }, tags: {}, name: null }, [
        {
          spanId: hexSpanId(), parentSpanId: null, name: 'chat', type: 'LLM', status: 'OK', statusMessage: '', startNs: BigInt(T0) * 1_000_000n, endNs: BigInt(T0 + 5) * 1_000_000n, events: [],
          attributes: { 'mlflow.llm.model': 'house-model', 'mlflow.chat.tokenUsage': { input_tokens: 2_000_000, output_tokens: 500_000, total_tokens: 2_500_000 } },
        },
      ]);
      expect(await store.db.selectFrom('traces').select(['cost_nanos', 'unpriced_calls']).where('trace_id', '=', traceId).executeTakeFirstOrThrow()).toMatchObject({ cost_nanos: null, unpriced_calls: 1 });
    } finally {
      await store.close();
    }

    const set = await runCli(['prices', 'set', 'house-model', '--input', '0.5', '--output', '2', '--backend-store-uri', uri]);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    const list = await runCli(['prices', 'list', '--backend-store-uri', uri]);
    expect(list.stdout).toMatch(/^house-model: input 0.5, output 2 \(set by threadline prices set, /);
    const bad = await runCli(['reprice', '--from', '2026-11-05', '--to', '2026-11-04', '--backend-store-uri', uri]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/must be after/);
    const reprice = await runCli(['reprice', '--from', '2026-11-04', '--to', '2026-11-05', '--backend-store-uri', uri]);
    expect(reprice.stderr).toBe('');
    expect(reprice.stdout).toBe('Priced 1 trace again.\n');

    const reopened = await createStore(uri);
    try {
      const trace = await reopened.db.selectFrom('traces').select(['cost_nanos', 'unpriced_calls']).where('trace_id', '=', traceId).executeTakeFirstOrThrow();
      // 2M input at $0.5 and 0.5M output at $2 per million.
      expect({ cost: Number(trace.cost_nanos), unpriced: Number(trace.unpriced_calls) }).toEqual({ cost: 2e9, unpriced: 0 });
      const session = await reopened.db.selectFrom('sessions').select('cost_nanos').where('session_id', '=', 's-cli').executeTakeFirstOrThrow();
      expect(Number(session.cost_nanos)).toBe(2e9);
    } finally {
      await reopened.close();
    }
  });
});
