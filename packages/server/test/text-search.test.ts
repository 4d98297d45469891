import { beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, pythonTracesJsonText, startTraceBody, tracesJsonPath } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest, type SpanSpec } from './support/otlp-payloads.js';
import { sql } from 'kysely';
import { deleteTraceText, FEW_MATCHES, indexSpanText } from '../src/store/trace-text.js';
import { parseTextQuery, type TextTerm } from '../src/text-search/text-query.js';
import { useTestApp } from './support/test-app.js';

const T0 = Date.UTC(2026, 10, 20, 9);

/**
 * Word search (`trace.text MATCH '...'`) through the text index of each database: what a word,
 * a prefix and a phrase find, across spans that came in separate uploads, by every way in; in the
 * sessions and users filters; and that deleted traces leave the index with them.
 */
describeEachDatabase('word search', (database) => {
  const t = useTestApp(database);
  let experiment = '';
  const ids: Record<string, string> = {};

  const otlp = async (spans: SpanSpec[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json', 'x-mlflow-experiment-id': experiment }, payload: JSON.stringify(otlpRequest(spans)) });
    expect(res.statusCode, res.body).toBe(200);
  };
  /** A chat turn: the user's message in the root's inputs, the answer in its outputs. */
  const turn = (user: string, session: string, minute: number, question: string, answer: string): SpanSpec => ({
    traceId: hexTraceId(),
    spanId: hexSpanId(),
    name: 'turn',
    startMs: T0 + minute * 60_000,
    endMs: T0 + minute * 60_000 + 100,
    attributes: {
      'user.id': user,
      'session.id': session,
      'mlflow.spanInputs': JSON.stringify({ messages: [{ role: 'user', content: question }] }),
      'mlflow.spanOutputs': JSON.stringify(answer),
    },
  });
  const search = async (filter: string) => {
    const res = await t.post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experiment } }], filter, max_results: 100 });
    expect(res.statusCode, res.body).toBe(200);
    return ((res.json().traces ?? []) as { trace_id: string }[]).map((tr) => tr.trace_id).sort();
  };
  const named = (...names: string[]) => names.map((n) => ids[n]!).sort();

  beforeAll(async () => {
    experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: `words-${newTraceId()}` })).json().experiment_id;
    const turns: Record<string, SpanSpec> = {
      refund: turn('ann', 's-1', 0, 'Can I get a refund for order 1234?', 'Your refund was approved.'),
      refunded: turn('ann', 's-1', 1, 'Was it refunded yet?', 'It has been REFUNDED to your card.'),
      cafe: turn('ben', 's-2', 2, 'Where is the Café Noir?', 'On rue de la Paix.'),
      delivery: turn('ben', 's-2', 3, 'My delivery was late', 'Sorry about the late delivery, here is a voucher.'),
      late: turn('cy', 's-3', 4, 'Late again: the delivery of my parcel', 'We will look into it.'),
      email: turn('cy', 's-3', 5, 'Write to bob@example.com please', 'Done.'),
    };
    for (const [name, span] of Object.entries(turns)) {
      await otlp([span]);
      ids[name] = `tr-${span.traceId}`;
    }
    // One trace whose words come in two uploads: the root first, a tool span later.
    const split = turn('dee', 's-4', 6, 'Track my parcel', 'Looking it up.');
    await otlp([split]);
    await otlp([{ traceId: split.traceId, spanId: hexSpanId(), parentSpanId: split.spanId, name: 'lookup', startMs: T0 + 6 * 60_000 + 10, attributes: { 'mlflow.spanOutputs': JSON.stringify({ status: 'customs hold in Rotterdam' }) } }]);
    ids.split = `tr-${split.traceId}`;
    // The MLflow SDK's two calls: the info, then its spans as an artifact upload.
    const mlflowId = newTraceId();
    expect((await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: mlflowId, experimentId: experiment, user: 'eve', session: 's-5' }))).statusCode).toBe(200);
    const upload = await t.app.inject({ method: 'PUT', url: tracesJsonPath(mlflowId, experiment), headers: { 'content-type': 'application/json' }, payload: pythonTracesJsonText(mlflowId) });
    expect(upload.statusCode, upload.body).toBe(200);
    ids.mlflow = mlflowId;
  });

  it('finds a word, ignoring case, in inputs and outputs, and longer words it begins', async () => {
    expect(await search("trace.text MATCH 'refund'")).toEqual(named('refund', 'refunded'));
    expect(await search("trace.text MATCH 'REFUNDED'")).toEqual(named('refunded'));
    expect(await search("trace.text MATCH 'voucher'")).toEqual(named('delivery'));
    expect(await search("trace.text MATCH 'hello'")).toEqual(named('mlflow'));
  });

  it('matches words without their accents, and keys of the JSON never', async () => {
    expect(await search("trace.text MATCH 'cafe'")).toEqual(named('cafe'));
    expect(await search("trace.text MATCH 'CAFÉ'")).toEqual(named('cafe'));
    expect(await search("trace.text MATCH 'messages'")).toEqual([]);
    expect(await search("trace.text MATCH 'role'")).toEqual([]);
  });

  it('wants every word, in any span of the trace, and a quoted phrase in order', async () => {
    expect(await search("trace.text MATCH 'late delivery'")).toEqual(named('delivery', 'late'));
    expect(await search('trace.text MATCH \'"late delivery"\'')).toEqual(named('delivery'));
    expect(await search("trace.text MATCH 'parcel rotterdam'")).toEqual(named('split'));
    // Quotes mean exactly the word; a short word matches only itself.
    expect(await search('trace.text MATCH \'"refund"\'')).toEqual(named('refund'));
    expect(await search("trace.text MATCH 'de'")).toEqual(named('cafe'));
    expect(await search("trace.text MATCH 'bob@example.com'")).toEqual(named('email'));
  });

  it('combines with the rest of the language', async () => {
    expect(await search("trace.text MATCH 'refund' AND trace.timestamp_ms > " + (T0 + 30_000))).toEqual(named('refunded'));
    expect(await search("trace.text MATCH 'delivery' AND NOT trace.text MATCH 'voucher'")).toEqual(named('late'));
    expect(await search("trace.text MATCH 'voucher' OR trace.text MATCH 'rotterdam'")).toEqual(named('delivery', 'split'));
    // MLflow's own clause keeps its meaning: a substring of the span JSON.
    expect(await search("trace.text ILIKE '%Rotterdam%'")).toEqual(named('split'));
  });

  it('finds the conversations and the users that mention a word', async () => {
    const sessions = await t.post('/api/threadline/sessions/search', { experiment_id: experiment, filter: "trace.text MATCH 'delivery'" });
    expect(sessions.statusCode, sessions.body).toBe(200);
    expect(sessions.json().sessions.map((s: { session_id: string }) => s.session_id).sort()).toEqual(['s-2', 's-3']);
    const users = await t.post('/api/threadline/users/search', { experiment_id: experiment, filter: "trace.text MATCH 'refund' AND traces >= 2" });
    expect(users.statusCode, users.body).toBe(200);
    expect(users.json().users.map((u: { user_id: string }) => u.user_id)).toEqual(['ann']);
  });

  it('refuses a search without words, and MATCH on other fields, with a 400 naming the problem', async () => {
    for (const [filter, message] of [
      ["trace.text MATCH '?!'", 'needs at least one word'],
      ["trace.text MATCH ''", 'needs at least one word'],
      [`trace.text MATCH '${Array.from({ length: 17 }, (_, i) => `w${i}`).join(' ')}'`, 'at most 16'],
      ["tag.x MATCH 'refund'", 'comparator not supported'],
      ["trace.text = 'refund'", 'MATCH'],
    ] as const) {
      const res = await t.post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experiment } }], filter });
      expect(res.statusCode, filter).toBe(400);
      expect(res.json().error_code).toBe('INVALID_PARAMETER_VALUE');
      expect(res.json().message, filter).toContain(message);
    }
  });

  it('finds a word too common to list its traces, newest first, and with a rare word', async () => {
    // More documents than FEW_MATCHES: the search walks the traces in order instead of listing them.
    const many = FEW_MATCHES + 50;
    const common: SpanSpec[] = Array.from({ length: many }, (_, i) => turn(`many-${i % 7}`, `s-many-${i % 40}`, 1_000 + i, `an everyday question ${i}`, i === 1_234 ? 'a zebra answer' : 'an answer'));
    for (let i = 0; i < common.length; i += 100) await otlp(common.slice(i, i + 100));
    const newest = common.slice(-100).reverse().map((span) => `tr-${span.traceId}`);
    const res = await t.post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experiment } }], filter: "trace.text MATCH 'everyday'", max_results: 100 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().traces.map((tr: { trace_id: string }) => tr.trace_id)).toEqual(newest);
    // A common and a rare word: the rare one's few traces, checked for the common one.
    expect(await search("trace.text MATCH 'everyday zebra'")).toEqual([`tr-${common[1_234]!.traceId}`]);
    expect(await search("trace.text MATCH 'everyday refund'")).toEqual([]);
    const sessions = await t.post('/api/threadline/sessions/search', { experiment_id: experiment, filter: "trace.text MATCH 'everyday' AND turns > 0", max_results: 500 });
    expect(sessions.json().sessions).toHaveLength(40);
    const zebra = await t.post('/api/threadline/sessions/search', { experiment_id: experiment, filter: "trace.text MATCH 'zebra everyday'" });
    expect(zebra.json().sessions.map((x: { session_id: string }) => x.session_id)).toEqual([`s-many-${1_234 % 40}`]);
  });

  it('forgets deleted traces, and indexes stored traces again from their spans', async () => {
    const docs = async () => Number((await t.store.db.selectFrom('trace_text_docs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const before = await docs();
    // The split trace has two documents, one per upload; a reindex makes them one.
    expect(await t.store.textIndex.reindex({ experimentId: experiment, fromMs: T0 + 6 * 60_000, toMs: T0 + 7 * 60_000 })).toBe(1);
    expect(await docs()).toBe(before - 1);
    expect(await search("trace.text MATCH 'parcel rotterdam'")).toEqual(named('split'));
    const res = await t.post('/api/2.0/mlflow/traces/delete-traces', { experiment_id: experiment, request_ids: [ids.delivery, ids.split] });
    expect(res.statusCode, res.body).toBe(200);
    expect(await docs()).toBe(before - 3);
    expect(await search("trace.text MATCH 'delivery'")).toEqual(named('late'));
    expect(await search("trace.text MATCH 'rotterdam'")).toEqual([]);
  });

  it('keeps the index whole when a document is added and removed in the same transaction', async () => {
    // On SQLite a new document waits to be indexed until its transaction commits; group commit
    // puts units of work of many requests in one transaction, so a trace may be stored and
    // deleted before that commit. Removing a document not yet indexed must not touch the index.
    const dialect = t.store.dialect;
    // Documents written straight to the index, of two trace keys (no trace needs to exist for that).
    const [gone, kept] = [900_001, 900_002];
    const said = (words: string) => [{ attributes: { 'mlflow.spanInputs': JSON.stringify(words) } }];
    await t.store.db.transaction().execute(async (trx) => {
      await indexSpanText(trx, dialect, gone, said('quokka wombat'));
      await deleteTraceText(trx, dialect, [gone]);
      await indexSpanText(trx, dialect, kept, said('quokka numbat'));
    });
    const matching = async (query: string) => {
      const [term] = parseTextQuery(query) as TextTerm[];
      return (await sql<{ trace_key: number }>`SELECT m.trace_key FROM ${dialect.traceText.matchingTraceKeys(term!)} AS m`.execute(t.store.db)).rows.map((r) => Number(r.trace_key));
    };
    expect(await matching('quokka')).toEqual([kept]);
    expect(await matching('wombat')).toEqual([]);
    if (database.name === 'sqlite') {
      // FTS5 compares the index with its content table and fails on any difference.
      await sql`INSERT INTO trace_text_index (trace_text_index, rank) VALUES ('integrity-check', 1)`.execute(t.store.db);
      expect((await sql<{ n: number }>`SELECT count(*) AS n FROM trace_text_pending`.execute(t.store.db)).rows[0]!.n).toBe(0);
    }
    await t.store.db.transaction().execute((trx) => deleteTraceText(trx, dialect, [kept]));
    expect(await matching('quokka')).toEqual([]);
  });
});
