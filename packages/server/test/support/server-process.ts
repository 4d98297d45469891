/**
 * The real `threadline` command as a child process, and HTTP calls that replay what the official
 * MLflow TypeScript SDK sends (wire protocol §3.2–§3.11) against it. Process tests use these to
 * check what only a real process can show: start-up errors, restarts, `kill -9`, and several
 * replicas on one database.
 *
 * The CLI is run from `packages/server/dist`: build first (`npx tsc -b`; `npm test` does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built CLI, as `npm start` and the `threadline` bin run it. */
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** How a child process ended: an exit code, or the signal that ended it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A finished CLI run with everything it printed. */
export interface CliRun extends ExitStatus {
  stdout: string;
  stderr: string;
}

/** A `threadline server` process that printed its listening line. */
export interface ServerProcess {
  /** Base URL from the listening line, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  readonly pid: number;
  /** Everything printed so far (the server logs failed requests on stdout at level warn). */
  output(): { stdout: string; stderr: string };
  /** Resolves once the process has ended and its output is closed. */
  readonly exited: Promise<ExitStatus>;
  /** Graceful stop with SIGTERM, as an operator or a container runtime would. */
  stop(): Promise<ExitStatus>;
  /** `kill -9`: no chance to flush, close or commit anything. */
  kill(): Promise<ExitStatus>;
}

export interface StartServerProcessOptions {
  /** `sqlite:////abs/path.db` or `postgresql://...`. */
  backendStoreUri: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: the OS picks a free port and the listening line says which. */
  port?: number;
  /** Guards against a hung start-up only; not a performance assertion. Default 30 s. */
  startTimeoutMillis?: number;
  /** More flags for `threadline server`, e.g. `['--auth']`. */
  extraArgs?: string[];
  /** Environment variables added to the test process's own. */
  env?: Record<string, string>;
}

/** Children still running, with the promise of their end; killed by stopAllServerProcesses() and at exit. */
const live = new Map<ChildProcess, Promise<ExitStatus>>();

// Whatever happens to the test run, no server outlives it.
process.once('exit', () => {
  for (const child of live.keys()) child.kill('SIGKILL');
});

function spawnCli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; exited: Promise<ExitStatus> } {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} does not exist: build the server first (npx tsc -b).`);
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exited = new Promise<ExitStatus>((resolve) => {
    // 'close', not 'exit': by then everything the process printed has been read.
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', () => {
      live.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  live.set(child, exited);
  return { child, exited };
}

/**
 * Runs the CLI to completion (for start-up failures), with everything it printed.
 *
 * @example
 * const run = await runCli(['server', '--port', '0', '--backend-store-uri', 'mysql://x']);
 * // run.code === 2, run.stderr === "threadline: Unsupported backend store URI ...\n"
 */
export async function runCli(args: string[], options: { timeoutMillis?: number; env?: Record<string, string> } = {}): Promise<CliRun> {
  const { child, exited } = spawnCli(args, options.env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMillis ?? 30_000);
  const status = await exited;
  clearTimeout(timer);
  return { ...status, stdout, stderr };
}

/**
 * Starts `threadline server` and resolves once it printed `Threadline ... listening on <url>`.
 * Rejects, with its output, if it exits first or does not come up in time.
 *
 * @example
 * const server = await startServerProcess({ backendStoreUri: `sqlite:///${dir}/t.db` });
 * await fetch(`${server.url}/health`);
 * await server.stop();
 */
export function startServerProcess(options: StartServerProcessOptions): Promise<ServerProcess> {
  const host = options.host ?? '127.0.0.1';
  const { child, exited } = spawnCli(['server', '--host', host, '--port', String(options.port ?? 0), '--backend-store-uri', options.backendStoreUri, ...(options.extraArgs ?? [])], options.env);
  let stdout = '';
  let stderr = '';
  const output = () => ({ stdout, stderr });
  const signalAndWait = async (signal: NodeJS.Signals): Promise<ExitStatus> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };

  return new Promise<ServerProcess>((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`threadline server ${why}.\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    const timer = setTimeout(() => fail(`did not print its listening line within ${options.startTimeoutMillis ?? 30_000} ms`), options.startTimeoutMillis ?? 30_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (!match || settled) return;
      settled = true;
      clearTimeout(timer);
      const url = match[1]!;
      resolve({
        url,
        port: Number(new URL(url).port),
        pid: child.pid!,
        output,
        exited,
        stop: () => signalAndWait('SIGTERM'),
        kill: () => signalAndWait('SIGKILL'),
      });
    });
    void exited.then((status) => fail(`exited (code ${status.code}, signal ${status.signal}) before listening`));
  });
}

/** SIGKILLs every CLI process this module started that is still running, and waits for them. */
export async function stopAllServerProcesses(): Promise<void> {
  const running = [...live];
  for (const [child] of running) child.kill('SIGKILL');
  await Promise.all(running.map(([, exited]) => exited));
}

// ---- what the MLflow TypeScript SDK sends ------------------------------------------------------

/** A span as the SDK's `Span.toJson` writes it; ids in hex here, base64 on the wire. */
export interface SpanSpec {
  /** 16 hex digits. */
  spanId: string;
  /** 16 hex digits, or null for the root (sent as `""`, as the TS SDK does). */
  parentSpanId: string | null;
  name: string;
  startNs: bigint;
  endNs: bigint | null;
  status: { code: 'STATUS_CODE_OK' | 'STATUS_CODE_ERROR' | 'STATUS_CODE_UNSET'; message: string };
  /** Plain JSON values (the TS form, §2.7), without `mlflow.traceRequestId`, which is added first. */
  attributes: Record<string, unknown>;
  events: { name: string; timeNs: bigint; attributes: Record<string, unknown> }[];
}

export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

/** One trace as the SDK exports it: the TraceInfoV3 of call (a) and the spans of call (b). */
export interface TraceSpec {
  traceId: string;
  experimentId: string;
  clientRequestId?: string;
  requestPreview: string;
  responsePreview: string;
  requestTimeMs: number;
  /** Sent as a protobuf Duration string, e.g. `"0.203s"`. */
  executionDurationMs: number;
  state: 'OK' | 'ERROR';
  /** `trace_metadata` exactly as sent (user, session and token usage included). */
  metadata: Record<string, string>;
  tags: Record<string, string>;
  spans: SpanSpec[];
  /** Conveniences for expectations; the same facts are in `metadata`. */
  user: string | undefined;
  session: string | undefined;
  tokens: TokenUsage | undefined;
}

export interface SdkTraceOptions {
  experimentId?: string;
  user?: string;
  session?: string;
  state?: 'OK' | 'ERROR';
  /** Usage recorded by the LLM child span and summed into metadata `mlflow.trace.tokenUsage`. */
  tokens?: TokenUsage;
  requestTimeMs?: number;
  executionDurationMs?: number;
  clientRequestId?: string;
  requestPreview?: string;
  responsePreview?: string;
  /** Custom metadata, sent before the SDK's own keys (as `updateCurrentTrace` does). */
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  rootName?: string;
}

/** A random odd offset below 1 ms: odd nanosecond values above 2^53 are never exact doubles. */
function subMillisecondNs(): bigint {
  return BigInt(randomInt(0, 499_999)) * 2n + 1n;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * A trace shaped like §3.11 examples 1–3: a CHAIN root with an LLM child (which carries the token
 * usage), previews mirrored into `mlflow.traceInputs` / `mlflow.traceOutputs`, and for an ERROR
 * trace a root span with status ERROR and an `exception` event. Nanosecond times sit above 2^53
 * with odd sub-millisecond digits, so any rounding to a double shows.
 *
 * @example
 * const spec = sdkTrace({ session: 'sess-1', user: 'user-1', tokens: { input_tokens: 3, output_tokens: 4, total_tokens: 7 } });
 */
export function sdkTrace(options: SdkTraceOptions = {}): TraceSpec {
  const traceId = `tr-${hex(16)}`;
  const requestTimeMs = options.requestTimeMs ?? Date.parse('2026-11-23T19:51:26.775Z') + randomInt(0, 1_000_000);
  const executionDurationMs = options.executionDurationMs ?? randomInt(1, 5_000);
  const state = options.state ?? 'OK';
  const requestPreview = options.requestPreview ?? `{"question":"q-${traceId.slice(3, 11)}"}`;
  const responsePreview = options.responsePreview ?? (state === 'ERROR' ? '' : `"a-${traceId.slice(3, 11)}"`);

  const metadata: Record<string, string> = { 'mlflow.trace_schema.version': '3', ...options.metadata };
  if (options.session !== undefined) metadata['mlflow.trace.session'] = options.session;
  if (options.user !== undefined) metadata['mlflow.trace.user'] = options.user;
  if (options.tokens !== undefined) metadata['mlflow.trace.tokenUsage'] = JSON.stringify(options.tokens);
  metadata['mlflow.traceInputs'] = requestPreview;
  metadata['mlflow.traceOutputs'] = responsePreview;

  const startNs = BigInt(requestTimeMs) * 1_000_000n + subMillisecondNs();
  const endNs = BigInt(requestTimeMs + executionDurationMs) * 1_000_000n + subMillisecondNs();
  const rootId = hex(8);
  // Odd, as the root's: a double holds no odd number this large (one in 256 quarters of the
  // span would otherwise land on a multiple of 256, which it does hold).
  const childStart = (startNs + (endNs - startNs) / 4n) | 1n;
  const childEnd = (startNs + ((endNs - startNs) * 3n) / 4n) | 1n;
  const root: SpanSpec = {
    spanId: rootId,
    parentSpanId: null,
    name: options.rootName ?? 'chat',
    startNs,
    endNs,
    status: state === 'ERROR' ? { code: 'STATUS_CODE_ERROR', message: 'boom' } : { code: 'STATUS_CODE_OK', message: '' },
    attributes: { 'mlflow.spanType': 'CHAIN', 'mlflow.spanInputs': JSON.parse(requestPreview) as unknown, ...(state === 'OK' ? { 'mlflow.spanOutputs': JSON.parse(responsePreview) as unknown } : {}) },
    events:
      state === 'ERROR'
        ? [{ name: 'exception', timeNs: endNs - 1n, attributes: { 'exception.type': 'Error', 'exception.message': 'boom', 'exception.stacktrace': 'Error: boom\n    at chat (app.ts:1:1)' } }]
        : [],
  };
  const child: SpanSpec = {
    spanId: hex(8),
    parentSpanId: rootId,
    name: 'llm',
    startNs: childStart,
    endNs: childEnd,
    status: { code: 'STATUS_CODE_OK', message: '' },
    attributes: {
      'mlflow.spanType': 'LLM',
      'mlflow.spanInputs': { messages: [{ role: 'user', content: 'hi' }] },
      'custom.num': 5,
      ...(options.tokens ? { 'mlflow.chat.tokenUsage': options.tokens } : {}),
      'mlflow.spanOutputs': { content: 'hello' },
    },
    events: [],
  };
  return {
    traceId,
    experimentId: options.experimentId ?? '0',
    ...(options.clientRequestId !== undefined ? { clientRequestId: options.clientRequestId } : {}),
    requestPreview,
    responsePreview,
    requestTimeMs,
    executionDurationMs,
    state,
    metadata,
    tags: options.tags ?? {},
    spans: [root, child],
    user: options.user,
    session: options.session,
    tokens: options.tokens,
  };
}

/** A protobuf Duration as the SDK writes it: `"0.002s"`, `"0s"`. */
export function durationText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3)}s`;
}

/**
 * The TS SDK's span `trace_id` (§3.8): it base64-encodes `tr-<hex>` two characters at a time, so
 * `tr` becomes 0x00 and `-f` 0xF1, and the last three hex digits fall off.
 *
 * @example
 * mangledSpanTraceId('tr-fd17eed378e53bc628fb795aa03739e0') // 'APHRfu03jlO8Yo+3laoDcw=='
 */
export function mangledSpanTraceId(traceId: string): string {
  const bytes = new Uint8Array(16);
  // Uint8Array stores NaN as 0 and -15 as 0xF1, exactly as the SDK's encoder does.
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(traceId.slice(i * 2, i * 2 + 2), 16);
  return Buffer.from(bytes).toString('base64');
}

export const hexToBase64 = (hexId: string): string => Buffer.from(hexId, 'hex').toString('base64');

/** Body of call (a), `POST /api/3.0/mlflow/traces`, with §3.11 example 1's field order. */
export function startTraceBodyText(spec: TraceSpec): string {
  return JSON.stringify({
    trace: {
      trace_info: {
        trace_id: spec.traceId,
        ...(spec.clientRequestId !== undefined ? { client_request_id: spec.clientRequestId } : {}),
        trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: spec.experimentId } },
        request_preview: spec.requestPreview,
        response_preview: spec.responsePreview,
        request_time: new Date(spec.requestTimeMs).toISOString(),
        execution_duration: durationText(spec.executionDurationMs),
        state: spec.state,
        trace_metadata: spec.metadata,
        tags: spec.tags,
        assessments: [],
      },
    },
  });
}

/**
 * Body of call (b), `traces.json`, written by hand as `json-bigint` writes it: nanoseconds as bare
 * integers (exact above 2^53), the mangled span `trace_id`, `""` for the root's parent, plain
 * attribute values with `mlflow.traceRequestId` first.
 */
export function tracesJsonText(spec: TraceSpec): string {
  const q = (value: unknown) => JSON.stringify(value);
  const mangled = mangledSpanTraceId(spec.traceId);
  const spans = spec.spans.map(
    (s) =>
      `{"trace_id":${q(mangled)},"span_id":${q(hexToBase64(s.spanId))},"parent_span_id":${q(s.parentSpanId === null ? '' : hexToBase64(s.parentSpanId))},` +
      `"name":${q(s.name)},"start_time_unix_nano":${s.startNs},"end_time_unix_nano":${s.endNs === null ? 'null' : s.endNs},` +
      `"status":${q(s.status)},"attributes":${q({ 'mlflow.traceRequestId': spec.traceId, ...s.attributes })},` +
      `"events":[${s.events.map((e) => `{"name":${q(e.name)},"time_unix_nano":${e.timeNs},"attributes":${q(e.attributes)}}`).join(',')}]}`,
  );
  return `{"spans":[${spans.join(',')}]}`;
}

const NANO_FIELDS = /("(?:start_time_unix_nano|end_time_unix_nano|time_unix_nano)"\s*:\s*)(-?\d+)/g;

/**
 * Parses a `traces.json` body with its nanosecond integers kept as their exact decimal text, so
 * tests compare what the server wrote, not what a double made of it.
 *
 * @example
 * parseWithExactNanos('{"start_time_unix_nano":1795463486775000001}') // { start_time_unix_nano: '1795463486775000001' }
 */
export function parseWithExactNanos(text: string): unknown {
  return JSON.parse(text.replace(NANO_FIELDS, '$1"$2"'));
}

// ---- HTTP, as the SDK's fetch calls make it ----------------------------------------------------

export interface HttpReply {
  status: number;
  text: string;
}

/** One request with the SDK's headers (`Content-Type: application/json`, and `Authorization` when given). */
export async function request(baseUrl: string, method: string, path: string, bodyText?: string, authorization?: string): Promise<HttpReply> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
    ...(bodyText !== undefined ? { body: bodyText } : {}),
  });
  return { status: response.status, text: await response.text() };
}

/** The span-upload path the SDK derives from the `mlflow.artifactLocation` tag (§3.4). */
export function tracesJsonPathOf(artifactLocation: string): string {
  const url = new URL(artifactLocation);
  if (url.protocol !== 'mlflow-artifacts:') throw new Error(`Expected mlflow-artifacts:// URI, got ${artifactLocation}`);
  return `/api/2.0/mlflow-artifacts/artifacts/${url.pathname.replace(/^\/+/, '')}/traces.json`;
}

/** Call (a). On 200, also the artifact location the SDK would upload to. */
export async function createTrace(baseUrl: string, spec: TraceSpec, authorization?: string): Promise<HttpReply & { artifactLocation?: string }> {
  const reply = await request(baseUrl, 'POST', '/api/3.0/mlflow/traces', startTraceBodyText(spec), authorization);
  if (reply.status !== 200) return reply;
  const body = JSON.parse(reply.text) as { trace?: { trace_info?: { tags?: Record<string, string> } } };
  const artifactLocation = body.trace?.trace_info?.tags?.['mlflow.artifactLocation'];
  return artifactLocation === undefined ? reply : { ...reply, artifactLocation };
}

/** Call (b): PUT the spans to the path named by call (a)'s reply. */
export function uploadSpans(baseUrl: string, spec: TraceSpec, artifactLocation: string, authorization?: string): Promise<HttpReply> {
  return request(baseUrl, 'PUT', tracesJsonPathOf(artifactLocation), tracesJsonText(spec), authorization);
}

/**
 * The SDK's whole export of one trace: (a) then (b), in order. The upload may go to another
 * replica than the create, as it does behind a load balancer. Throws unless both answer 200.
 *
 * @example
 * await logTrace(server.url, sdkTrace({ session: 's1' }));
 */
export async function logTrace(createUrl: string, spec: TraceSpec, uploadUrl: string = createUrl, authorization?: string): Promise<void> {
  const created = await createTrace(createUrl, spec, authorization);
  if (created.status !== 200 || created.artifactLocation === undefined) {
    throw new Error(`create of ${spec.traceId} on ${createUrl}: HTTP ${created.status} ${created.text}`);
  }
  const uploaded = await uploadSpans(uploadUrl, spec, created.artifactLocation, authorization);
  if (uploaded.status !== 200) throw new Error(`span upload of ${spec.traceId} on ${uploadUrl}: HTTP ${uploaded.status} ${uploaded.text}`);
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects on the first failure. */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
