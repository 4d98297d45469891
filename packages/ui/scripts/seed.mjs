// Seeds a Threadline server through its HTTP API, as the MLflow SDKs log traces: the trace's info
// (user and session in its metadata), then its spans. Shared by the browser tests and
// `npm run screenshots`; plain JavaScript so that both Node and vitest run it as is.
import { randomBytes } from 'node:crypto';

const hex = (bytes) => randomBytes(bytes).toString('hex');
const spanId = () => randomBytes(8).toString('base64');

/**
 * Logs one trace. `spans` are `{ name, type, startMs, endMs, parent (index), inputs, outputs, error, events,
 * attributes, llm }`, `llm` being a model call's `{ model, provider, input, output }` (tokens), which the
 * server prices; the first one is the root. `options.headers` go with each request (credentials, for a server with
 * --auth). Returns the trace id.
 */
export async function logTrace(baseUrl, t, options = {}) {
  const traceId = t.traceId ?? `tr-${hex(16)}`;
  const experimentId = t.experimentId ?? '0';
  const metadata = { 'mlflow.trace_schema.version': '3', ...(t.metadata ?? {}) };
  if (t.user) metadata['mlflow.trace.user'] = t.user;
  if (t.session) metadata['mlflow.trace.session'] = t.session;
  if (t.tokens) metadata['mlflow.trace.tokenUsage'] = JSON.stringify({ input_tokens: t.tokens[0], output_tokens: t.tokens[1], total_tokens: t.tokens[0] + t.tokens[1] });
  const spans = t.spans ?? [{ name: t.name ?? 'chat', type: 'CHAT_MODEL', startMs: t.startMs, endMs: t.startMs + t.durationMs, inputs: t.inputs, outputs: t.outputs }];
  const durationMs = t.durationMs ?? spans[0].endMs - spans[0].startMs;
  const info = {
    trace_id: traceId,
    trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } },
    request_preview: t.requestPreview ?? preview(t.inputs ?? spans[0].inputs),
    response_preview: t.responsePreview ?? preview(t.outputs ?? spans[0].outputs),
    request_time: new Date(t.startMs).toISOString(),
    execution_duration: `${(durationMs / 1000).toFixed(3)}s`,
    state: t.state ?? 'OK',
    trace_metadata: metadata,
    tags: { 'mlflow.traceName': spans[0].name, ...(t.tags ?? {}) },
    assessments: [],
  };
  await request(baseUrl, 'POST', '/api/3.0/mlflow/traces', { trace: { trace_info: info } }, options.headers);
  const ids = spans.map(() => spanId());
  const body = {
    spans: spans.map((s, i) => ({
      trace_id: Buffer.from(traceId.slice(3), 'hex').toString('base64'),
      span_id: ids[i],
      parent_span_id: s.parent === undefined ? (i === 0 ? '' : ids[0]) : ids[s.parent],
      name: s.name,
      start_time_unix_nano: Math.round(s.startMs * 1e6),
      end_time_unix_nano: Math.round(s.endMs * 1e6),
      status: { code: s.error ? 'STATUS_CODE_ERROR' : 'STATUS_CODE_OK', message: s.error ?? '' },
      attributes: {
        'mlflow.traceRequestId': JSON.stringify(traceId),
        'mlflow.spanType': JSON.stringify(s.type ?? 'UNKNOWN'),
        ...(s.inputs !== undefined ? { 'mlflow.spanInputs': JSON.stringify(s.inputs) } : {}),
        ...(s.outputs !== undefined ? { 'mlflow.spanOutputs': JSON.stringify(s.outputs) } : {}),
        ...(s.llm ? llmAttributes(s.llm) : {}),
        ...(s.attributes ?? {}),
      },
      events: s.events ?? [],
    })),
  };
  await request(baseUrl, 'PUT', `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/traces/${traceId}/artifacts/traces.json`, body, options.headers);
  return traceId;
}

/** What MLflow's OpenAI integration records on a model call: model, provider and token usage, JSON-encoded like every attribute. */
function llmAttributes({ model, provider, input, output }) {
  return {
    'mlflow.llm.model': JSON.stringify(model),
    ...(provider ? { 'mlflow.llm.provider': JSON.stringify(provider) } : {}),
    'mlflow.chat.tokenUsage': JSON.stringify({ input_tokens: input, output_tokens: output, total_tokens: input + output }),
  };
}

function preview(value) {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 1000 ? text.slice(0, 1000) : text;
}

export async function request(baseUrl, method, path, body, headers = {}) {
  const response = await fetch(baseUrl + path, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

const QUESTIONS = [
  ['How do I reset my password?', 'Go to Settings → Security and choose "Reset password". You will get an email with a link that is valid for 30 minutes.'],
  ['Can I change the email on my account?', 'Yes. Open Settings → Profile, edit the email field and confirm the change from both the old and the new address.'],
  ['What plans do you offer?', 'There are three plans: Free (1 project), Team ($12 per seat per month) and Enterprise (custom pricing, SSO and audit logs).'],
  ["What's the weather in Paris tomorrow?", 'Tomorrow in Paris: 14°C, light rain in the morning, clearing up in the afternoon.'],
  ['Summarise my last three invoices.', 'Your last three invoices: #1042 $36.00 (paid), #1057 $36.00 (paid), #1071 $48.00 (due on the 30th, one extra seat).'],
  ['Why was I charged twice?', 'I found one charge and one pending authorisation of the same amount; the authorisation is released by your bank within 3–5 days.'],
  ['Translate "see you soon" into Italian.', '"A presto."'],
  ['How many API calls do I have left this month?', 'You have used 8,412 of 10,000 API calls this month; 1,588 remain until the reset on the 1st.'],
  ['Export my data as CSV, please.', "I've started the export. You'll receive a download link by email when it's ready (usually within 10 minutes)."],
  ['Is there an SDK for TypeScript?', 'Yes: `npm install @acme/sdk`. It supports Node 18+ and modern browsers, with full type definitions.'],
];
const USERS = ['alice@acme.io', 'bob@acme.io', 'carol@globex.com', 'dave@initech.com', "o'brien@hooli.com", 'erin@umbrella.org'];

/** Deterministic pseudo-random numbers, so screenshots look the same on every run. */
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * A support-chat demo: six users, `sessions` conversations over the last `days` days, 2 to 7
 * turns each with OpenAI-style messages and gpt-4o-mini calls (priced by the server), some turns
 * calling tools, a few failing.
 */
export async function seedDemo(baseUrl, { sessions = 24, days = 7, now = Date.now(), seed = 7 } = {}) {
  const random = rng(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const created = [];
  for (let s = 0; s < sessions; s++) {
    const user = USERS[s % USERS.length];
    const session = `chat-${String(1000 + s)}`;
    let t = now - random() * days * 86_400_000;
    const turns = 2 + Math.floor(random() * 6);
    const history = [{ role: 'system', content: 'You are Acme’s helpful support assistant.' }];
    for (let i = 0; i < turns; i++) {
      const [question, answer] = pick(QUESTIONS);
      const useTool = random() < 0.35;
      const fail = random() < 0.08;
      const llmMs = 300 + random() * 2200;
      const toolMs = useTool ? 80 + random() * 600 : 0;
      const total = llmMs + toolMs + 40 + random() * 60;
      const messages = [...history, { role: 'user', content: question }];
      const toolCall = { id: `call_${hex(4)}`, type: 'function', function: { name: 'lookup_account', arguments: JSON.stringify({ user, topic: question.split(' ').slice(0, 3).join(' ') }) } };
      const spans = [
        { name: 'support_chat', type: 'CHAIN', startMs: t, endMs: t + total, inputs: { messages }, outputs: fail ? undefined : { choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }] }, error: fail ? 'RateLimitError: upstream model overloaded' : undefined },
        { name: 'retrieve_docs', type: 'RETRIEVER', startMs: t + 5, endMs: t + 35, inputs: { query: question }, outputs: [{ id: 'kb-12', score: 0.82 }, { id: 'kb-7', score: 0.61 }] },
      ];
      if (useTool) {
        spans.push({ name: 'openai.chat.completions', type: 'CHAT_MODEL', startMs: t + 40, endMs: t + 40 + llmMs * 0.4, inputs: { model: 'gpt-4o-mini', messages }, outputs: { choices: [{ message: { role: 'assistant', content: null, tool_calls: [toolCall] } }] } });
        spans.push({ name: 'lookup_account', type: 'TOOL', startMs: t + 40 + llmMs * 0.4, endMs: t + 40 + llmMs * 0.4 + toolMs, inputs: JSON.parse(toolCall.function.arguments), outputs: { plan: 'Team', seats: 4, status: 'active' } });
        spans.push({ name: 'openai.chat.completions', type: 'CHAT_MODEL', startMs: t + 40 + llmMs * 0.4 + toolMs, endMs: t + total - 5, inputs: { model: 'gpt-4o-mini', messages: [...messages, { role: 'assistant', content: null, tool_calls: [toolCall] }, { role: 'tool', tool_call_id: toolCall.id, content: '{"plan":"Team","seats":4,"status":"active"}' }] }, outputs: fail ? undefined : { choices: [{ message: { role: 'assistant', content: answer } }] }, error: fail ? 'RateLimitError: upstream model overloaded' : undefined, events: fail ? [{ name: 'exception', time_unix_nano: Math.round((t + total - 5) * 1e6), attributes: { 'exception.type': 'RateLimitError', 'exception.message': 'upstream model overloaded', 'exception.stacktrace': 'RateLimitError: upstream model overloaded\n    at callModel (agent.ts:42:11)' } }] : [] });
        spans[0].inputs = { messages: [...messages, { role: 'assistant', content: null, tool_calls: [toolCall] }, { role: 'tool', tool_call_id: toolCall.id, content: '{"plan":"Team","seats":4,"status":"active"}' }] };
      } else {
        spans.push({ name: 'openai.chat.completions', type: 'CHAT_MODEL', startMs: t + 40, endMs: t + total - 5, inputs: { model: 'gpt-4o-mini', messages }, outputs: fail ? undefined : { choices: [{ message: { role: 'assistant', content: answer } }] }, error: fail ? 'RateLimitError: upstream model overloaded' : undefined });
      }
      const input = 30 * history.length + Math.floor(random() * 200);
      const output = Math.floor(20 + random() * 180);
      // The model calls' usage adds up to the turn's tokens: a tool-calling turn's first call takes a part, its answer the rest.
      const calls = spans.filter((s) => s.type === 'CHAT_MODEL');
      const first = calls.length > 1 ? [Math.floor(input * 0.45), Math.floor(output * 0.2)] : [input, output];
      calls[0].llm = { model: 'gpt-4o-mini', provider: 'openai', input: first[0], output: first[1] };
      if (calls[1]) calls[1].llm = { model: 'gpt-4o-mini', provider: 'openai', input: input - first[0], output: output - first[1] };
      created.push(
        await logTrace(baseUrl, {
          user, session, startMs: t, durationMs: total, state: fail ? 'ERROR' : 'OK', spans, tokens: [input, output],
          requestPreview: question, responsePreview: fail ? '' : answer,
          tags: { env: random() < 0.7 ? 'prod' : 'staging', ...(random() < 0.15 ? { reviewed: 'yes' } : {}) },
        }),
      );
      history.push({ role: 'user', content: question }, { role: 'assistant', content: answer });
      t += total + 20_000 + random() * 240_000;
    }
  }
  return created;
}
