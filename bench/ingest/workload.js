/**
 * The ingest workload: chat-app traces exactly as the MLflow TypeScript SDK sends them
 * (wire protocol §3.2-§3.4, §3.11), generated deterministically from a seed.
 *
 * Each trace is one chat turn of a retrieval-augmented assistant: a CHAIN root with four children
 * (RETRIEVER, LLM with `mlflow.chat.tokenUsage`, TOOL, PARSER), with realistic inputs and outputs
 * (messages, retrieved passages, a chat completion) of about 1 KB of attributes per span.
 * Traces belong to USERS users and SESSIONS sessions; each session belongs to one user.
 */
import { hex, rng } from '../lib/random.js';

export const USERS = 100;
export const SESSIONS = 1000;

/** Trace start times: a fixed day, so that runs are comparable. */
const EPOCH_MS = Date.UTC(2026, 0, 15, 9, 0, 0);

const WORDS = (
  'the a to of and in is it you that for on with as this be are can your at or from by not have an ' +
  'account order plan invoice refund billing payment card subscription upgrade downgrade team seat ' +
  'workspace project export import report dashboard chart query filter search user session trace ' +
  'latency token model prompt answer question document policy support ticket email password login ' +
  'reset settings region data retention storage limit quota api key webhook integration slack ' +
  'calendar meeting schedule delivery shipping address return window days month year annual monthly ' +
  'price discount coupon tax receipt download link error timeout retry status page incident update ' +
  'please thanks could would should how what when where why which does do my our their there here ' +
  'after before during within about more less only also still already yet then than because if'
).split(' ');


function int(rand, lo, hi) {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** A sentence-like string of roughly `chars` characters. */
function text(rand, chars) {
  const words = [];
  let length = 0;
  while (length < chars) {
    const w = WORDS[Math.floor(rand() * WORDS.length)];
    words.push(w);
    length += w.length + 1;
  }
  const s = words.join(' ');
  return `${s[0].toUpperCase()}${s.slice(1)}.`;
}

/** Span id as both SDKs send it: base64 of 8 bytes. */
function spanId(rand) {
  return Buffer.from(hex(rand, 16), 'hex').toString('base64');
}

/**
 * The span `trace_id` the TypeScript SDK writes: it base64-encodes bytes parsed two characters at a
 * time from the MLflow id `tr-<hex>` (wire protocol §3.8), so "tr" becomes 0x00 and "-f" 0xF1.
 */
function sdkMangledTraceId(mlflowTraceId) {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = (parseInt(mlflowTraceId.slice(2 * i, 2 * i + 2), 16) || 0) & 0xff;
  return Buffer.from(bytes).toString('base64');
}

const SYSTEM_PROMPT =
  'You are the support assistant of Acme Cloud. Answer from the provided context only, cite the documents you used, and ask a clarifying question when the request is ambiguous.';

/** MLflow's preview cut: 997 characters and `...`. */
function preview(s) {
  return s.length > 1000 ? `${s.slice(0, 997)}...` : s;
}

/**
 * JSON with the nanosecond fields as bare integers, as the SDK's json-bigint writes them: values
 * are generated as decimal strings and unquoted here.
 */
function toSdkJson(value) {
  return JSON.stringify(value).replace(/("(?:start_time_unix_nano|end_time_unix_nano|time_unix_nano)":)"(\d+)"/g, '$1$2');
}

/**
 * One trace: the two request bodies of the SDK's two-call flow.
 *
 * @returns {{ traceId: string, userId: string, sessionId: string, post: Buffer, put: Buffer, putPath: string, attributeBytes: number }}
 */
function makeTrace(rand, startMs, experimentId) {
  const traceId = `tr-${hex(rand, 32)}`;
  const sessionNo = int(rand, 0, SESSIONS - 1);
  const sessionId = `session-${String(sessionNo).padStart(4, '0')}`;
  const userId = `user-${String(sessionNo % USERS).padStart(3, '0')}`;
  const failed = rand() < 0.02;

  const question = text(rand, int(rand, 60, 220)).replace(/\.$/, '?');
  const answer = text(rand, int(rand, 250, 600));
  const docs = [0, 1].map(() => ({
    page_content: text(rand, int(rand, 150, 280)),
    metadata: { doc_uri: `https://docs.acme.example/kb/${int(rand, 1000, 9999)}`, chunk_id: String(int(rand, 0, 40)) },
  }));
  const history = [];
  for (let turns = int(rand, 0, 2), t = 0; t < turns; t++) {
    history.push({ role: 'user', content: text(rand, int(rand, 40, 120)) });
    history.push({ role: 'assistant', content: text(rand, int(rand, 60, 160)) });
  }
  const inputTokens = int(rand, 300, 1400);
  const outputTokens = int(rand, 60, 400);
  const usage = { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens };

  // Times: the root spans the whole turn; children follow one another inside it.
  const rootStartNs = BigInt(startMs) * 1_000_000n + BigInt(int(rand, 0, 999_999));
  const durationMs = int(rand, 400, 4000);
  const rootEndNs = rootStartNs + BigInt(durationMs) * 1_000_000n + BigInt(int(rand, 0, 999_999));
  const at = (fraction) => rootStartNs + BigInt(Math.floor(durationMs * fraction * 1_000_000));
  const mangled = sdkMangledTraceId(traceId);
  const rootId = spanId(rand);
  const ok = { code: 'STATUS_CODE_OK', message: '' };
  const span = (id, parent, name, type, start, end, attributes, status = ok, events = []) => ({
    trace_id: mangled,
    span_id: id,
    parent_span_id: parent,
    name,
    start_time_unix_nano: start.toString(),
    end_time_unix_nano: end.toString(),
    status,
    attributes: { 'mlflow.traceRequestId': traceId, 'mlflow.spanType': type, ...attributes },
    events,
  });

  const completion = {
    id: `chatcmpl-${hex(rand, 24)}`,
    object: 'chat.completion',
    created: Math.floor(startMs / 1000),
    model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
    usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
  };
  const rootInputs = { messages: [...history, { role: 'user', content: question }] };
  const rootOutputs = failed ? undefined : { role: 'assistant', content: answer, sources: docs.map((d) => d.metadata.doc_uri) };
  const spans = [
    span(
      rootId,
      '',
      'chat_turn',
      'CHAIN',
      rootStartNs,
      rootEndNs,
      { 'mlflow.spanInputs': rootInputs, ...(rootOutputs ? { 'mlflow.spanOutputs': rootOutputs } : {}) },
      failed ? { code: 'STATUS_CODE_ERROR', message: 'Upstream model timed out' } : ok,
      failed
        ? [
            {
              name: 'exception',
              time_unix_nano: rootEndNs.toString(),
              attributes: {
                'exception.type': 'APIConnectionTimeoutError',
                'exception.message': 'Upstream model timed out',
                'exception.stacktrace': 'APIConnectionTimeoutError: Upstream model timed out\n    at OpenAI.makeRequest (node_modules/openai/core.js:331:19)\n    at async chatTurn (src/chat.ts:88:22)',
              },
            },
          ]
        : [],
    ),
    span(spanId(rand), rootId, 'retrieve_context', 'RETRIEVER', at(0.02), at(0.12), {
      'mlflow.spanInputs': { query: question, top_k: 2 },
      'mlflow.spanOutputs': docs,
    }),
    span(spanId(rand), rootId, 'openai.chat.completions.create', 'LLM', at(0.14), at(0.9), {
      'mlflow.spanInputs': {
        model: 'gpt-4o-mini',
        temperature: 0.2,
        messages: [
          { role: 'system', content: SYSTEM_PROMPT },
          ...history,
          { role: 'user', content: `${question}\n\nContext:\n${docs.map((d, i) => `[${i + 1}] ${d.page_content.slice(0, 120)}`).join('\n')}` },
        ],
      },
      'mlflow.spanOutputs': completion,
      'mlflow.chat.tokenUsage': usage,
      'mlflow.message.format': 'openai',
    }),
    span(spanId(rand), rootId, 'lookup_account', 'TOOL', at(0.9), at(0.94), {
      'mlflow.spanInputs': { user_id: userId, fields: ['plan', 'status', 'region'] },
      'mlflow.spanOutputs': { plan: ['free', 'team', 'enterprise'][int(rand, 0, 2)], status: 'active', region: 'eu-west-1', seats: int(rand, 1, 200) },
    }),
    span(spanId(rand), rootId, 'format_answer', 'PARSER', at(0.95), at(0.99), {
      'mlflow.spanInputs': { text: answer },
      'mlflow.spanOutputs': { markdown: answer, citations: docs.map((d, i) => ({ n: i + 1, uri: d.metadata.doc_uri })) },
    }),
  ];

  const requestPreview = preview(question);
  const responsePreview = failed ? '' : preview(answer);
  const traceInfo = {
    trace_id: traceId,
    trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } },
    request_preview: requestPreview,
    response_preview: responsePreview,
    request_time: new Date(startMs).toISOString(),
    execution_duration: `${(Number(rootEndNs - rootStartNs) / 1e9).toFixed(3)}s`,
    state: failed ? 'ERROR' : 'OK',
    trace_metadata: {
      'mlflow.trace_schema.version': '3',
      'mlflow.trace.session': sessionId,
      'mlflow.trace.user': userId,
      'app.version': '2.4.1',
      'mlflow.trace.tokenUsage': JSON.stringify(usage),
      'mlflow.traceInputs': requestPreview,
      'mlflow.traceOutputs': responsePreview,
    },
    tags: { route: '/api/chat' },
    assessments: [],
  };
  const attributeBytes = spans.reduce((n, s) => n + Buffer.byteLength(JSON.stringify(s.attributes)), 0);
  return {
    traceId,
    userId,
    sessionId,
    post: Buffer.from(toSdkJson({ trace: { trace_info: traceInfo } })),
    put: Buffer.from(toSdkJson({ spans })),
    putPath: `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/traces/${traceId}/artifacts/traces.json`,
    attributeBytes,
  };
}

/**
 * The traces of one set (one round): `count` traces from `seed`, their request times one to a few
 * seconds apart starting `setIndex` days after the fixed epoch, in experiment `experimentId` (whose
 * artifact location must be `mlflow-artifacts:/<id>`, as the server gives a new experiment).
 */
export function makeTraceSet(count, seed, setIndex, experimentId = '0') {
  const rand = rng(seed);
  const traces = new Array(count);
  let t = EPOCH_MS + setIndex * 86_400_000;
  for (let i = 0; i < count; i++) {
    t += int(rand, 5, 3000);
    traces[i] = makeTrace(rand, t, experimentId);
  }
  return traces;
}
