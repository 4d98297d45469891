/**
 * The load generator: `concurrency` workers over keep-alive connections, each sending traces the
 * way the MLflow TypeScript SDK exports them (wire protocol §3.2): POST the trace info, read the
 * artifact location from the reply's tags, then PUT the spans to the path it names.
 * Node's own http client with a bounded pool; no third-party load tool.
 */
import http from 'node:http';

const HEADERS = { 'content-type': 'application/json', 'user-agent': 'node' };
const REQUEST_TIMEOUT_MS = 30_000;

/** One request; resolves with status and body text, whatever the status. */
function send(agent, base, method, path, body, sockets, extraHeaders) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: base.hostname, port: base.port, method, path, headers: { ...HEADERS, ...extraHeaders, 'content-length': body.length } },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path} timed out after ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.once('socket', (socket) => sockets.add(socket));
    req.end(body);
  });
}

/** The PUT path the SDK derives from `mlflow.artifactLocation` (wire protocol §3.4). */
function uploadPath(replyBody) {
  const location = JSON.parse(replyBody)?.trace?.trace_info?.tags?.['mlflow.artifactLocation'];
  if (typeof location !== 'string' || !location.startsWith('mlflow-artifacts:')) {
    throw new Error(`create-trace reply has no mlflow-artifacts: artifact location: ${replyBody.slice(0, 300)}`);
  }
  return `/api/2.0/mlflow-artifacts/artifacts/${new URL(location).pathname.replace(/^\/+/, '')}/traces.json`;
}

/**
 * One trace the SDK's way: POST its info, then PUT its spans to the path the reply names. Throws
 * on a failed call (the SDK would drop the trace). Answers each call's start and end
 * (performance.now(), ms).
 */
export async function sendTrace(agent, base, trace, sockets, extraHeaders, uploadBase = base) {
  const t0 = performance.now();
  const created = await send(agent, base, 'POST', '/api/3.0/mlflow/traces', trace.post, sockets, extraHeaders);
  const t1 = performance.now();
  if (created.status !== 200) throw new Error(`POST trace ${trace.traceId}: HTTP ${created.status} ${created.body.slice(0, 500)}`);
  const path = uploadPath(created.body);
  if (path !== trace.putPath) throw new Error(`unexpected upload path ${path} for ${trace.traceId}`);
  const t2 = performance.now();
  const uploaded = await send(agent, uploadBase, 'PUT', path, trace.put, sockets, extraHeaders);
  const t3 = performance.now();
  if (uploaded.status !== 200 || uploaded.body.trim() !== '{}') {
    throw new Error(`PUT spans of ${trace.traceId}: HTTP ${uploaded.status} ${uploaded.body.slice(0, 500)}`);
  }
  return { post: { start: t0, end: t1 }, put: { start: t2, end: t3 } };
}

/**
 * Sends every trace once with at most `concurrency` traces in flight.
 * Stops at the first failed call (the SDK would drop that trace: there is no retry).
 *
 * @param {string | string[]} url server base URL; with several (replicas behind a balancer),
 *   calls go to them in turn, so a trace's create and upload reach different ones
 * @param {{ traceId: string, post: Buffer, put: Buffer, putPath: string }[]} traces
 * @param {number} concurrency
 * @param {{ authorization?: string }} [options] sent with every request, as the SDKs send credentials
 * @returns {Promise<{ elapsedMs: number, postMs: Float64Array, putMs: Float64Array, responseBytes: number }>}
 * (`responseBytes`: all bytes the server sent on the connections, headers included)
 */
export async function sendTraces(url, traces, concurrency, { authorization } = {}) {
  const extraHeaders = authorization ? { authorization } : {};
  const bases = (Array.isArray(url) ? url : [url]).map((u) => new URL(u));
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const postMs = new Float64Array(traces.length);
  const putMs = new Float64Array(traces.length);
  /** Every connection used, to count the bytes the server sent back. */
  const sockets = new Set();
  let next = 0;
  let failure;

  const worker = async () => {
    try {
      await drive();
    } catch (error) {
      failure ??= error;
    }
  };
  const drive = async () => {
    while (failure === undefined && next < traces.length) {
      const i = next++;
      const sent = await sendTrace(agent, bases[i % bases.length], traces[i], sockets, extraHeaders, bases[(i + 1) % bases.length]);
      postMs[i] = sent.post.end - sent.post.start;
      putMs[i] = sent.put.end - sent.put.start;
    }
  };

  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, traces.length) }, worker));
  const elapsedMs = performance.now() - started;
  let responseBytes = 0;
  for (const socket of sockets) responseBytes += socket.bytesRead;
  agent.destroy();
  if (failure !== undefined) throw failure;
  return { elapsedMs, postMs, putMs, responseBytes };
}

/**
 * A steady load: one trace every 1000 / `ratePerSecond` ms, on a fixed schedule, with at most
 * `concurrency` in flight (a trace due while all are busy is sent as soon as one is free, and the
 * schedule does not catch up later in a burst), until `stop()` is called. `nextTrace()` supplies
 * the traces. Every call is recorded: its kind, start and end (performance.now(), ms), and how
 * late its trace was sent against the schedule.
 *
 * @param {string} url
 * @param {{ ratePerSecond: number, concurrency: number, nextTrace: () => { traceId: string, post: Buffer, put: Buffer, putPath: string } }} options
 * @returns {{ calls: { kind: 'POST' | 'PUT', start: number, end: number, lateMs: number }[], stop(): Promise<void> }}
 *   stop resolves once the traces in flight are answered, and rejects with the first failure
 */
export function steadyLoad(url, { ratePerSecond, concurrency, nextTrace }) {
  const base = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const sockets = new Set();
  const calls = [];
  const intervalMs = 1000 / ratePerSecond;
  let stopped = false;
  let failure;
  let due = performance.now();
  const worker = async () => {
    while (!stopped && failure === undefined) {
      // Workers take turns at the schedule: each claims the next slot and waits for it.
      const slot = due;
      due += intervalMs;
      const wait = slot - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      else if (-wait > intervalMs) due = performance.now() + intervalMs; // no bursts to catch up
      if (stopped) break;
      const lateMs = Math.max(0, performance.now() - slot);
      try {
        const sent = await sendTrace(agent, base, nextTrace(), sockets, {});
        calls.push({ kind: 'POST', ...sent.post, lateMs }, { kind: 'PUT', ...sent.put, lateMs });
      } catch (error) {
        failure ??= error;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    calls,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      if (failure !== undefined) throw failure;
    },
  };
}
