import type { ServerResponse } from 'node:http';
import { ErrorCode, LIVE_CHANGES_EVENT, LIVE_EVENTS_PATH, type LiveChangeJson, type LiveChangesJson } from '@threadline/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import { changeKey, experimentChange, type ChangeFeed, type ChangeSubscription, type TraceChange } from '../store/change-feed.js';
import type { RouteContext } from './app.js';
import { SECURITY_HEADERS } from './edge-security.js';
import { bodyObject, optionalString } from './fields.js';

/** Live updates over server-sent events; every field optional, defaults suit a server of a team. */
export interface LiveOptions {
  /** Event streams this process serves at once; one more is answered 503 with Retry-After. Default 1 000. */
  maxStreams?: number;
  /** A comment line is sent this often, so that proxies and clients see the connection alive. Default 15 000 ms. */
  heartbeatMillis?: number;
  /** Shortest time between two events of one stream; what changes in between goes in the next one. Default 100 ms. */
  minEventIntervalMillis?: number;
  /**
   * A stream is ended after this long; the browser's EventSource connects again at once, and the
   * caller's access is checked again (a revoked token or permission stops its stream). Default 5 min.
   */
  maxStreamMillis?: number;
}

const DEFAULTS: Required<LiveOptions> = { maxStreams: 1_000, heartbeatMillis: 15_000, minEventIntervalMillis: 100, maxStreamMillis: 300_000 };
/** Seconds a client turned away (too many streams) is asked to wait. */
const FULL_RETRY_AFTER_SECONDS = 30;
/** How soon EventSource reconnects after a stream ended (its `retry:` field). */
const RECONNECT_MILLIS = 1_000;
/** Distinct changes one stream holds between two events; past it, one `experiment` change says "fetch it all". */
const MAX_PENDING_CHANGES = 100;
/** Bytes a stream may have unsent (a client that stopped reading) before it is ended. */
const MAX_UNSENT_BYTES = 256 * 1024;

interface StreamFilter {
  experimentId: string;
  /** Only this session's changes (and experiment-wide ones). */
  sessionId?: string;
}

/**
 * `GET /threadline/experiments/{experiment_id}/events?session_id=`: the experiment's changes as
 * server-sent events (packages/protocol/src/live.ts), READ on the experiment. 404 for an unknown one.
 */
export function registerLiveRoutes(app: FastifyInstance, { experiments, live }: RouteContext): void {
  app.get<{ Params: { experiment_id: string } }>(LIVE_EVENTS_PATH.replace('{experiment_id}', ':experiment_id'), async (req, reply) => {
    const experimentId = parseExperimentId(req.params.experiment_id, 'experiment_id');
    await experiments.artifactLocation(experimentId);
    const sessionId = optionalString(bodyObject(req.query), 'session_id');
    await live.serve(reply, { experimentId, ...(sessionId ? { sessionId } : {}) });
  });
}

/**
 * This process's event streams: subscribed to the store's change feed while it serves any (so
 * nothing is listened to, on PostgreSQL no LISTEN connection is open, while nobody watches), each
 * change handed to the streams of its experiment only. Bounded: at most `maxStreams` streams, each
 * holding at most {@link MAX_PENDING_CHANGES} changes and {@link MAX_UNSENT_BYTES} unsent bytes.
 *
 * @example
 * const live = new LiveStreams(store.changes, { maxStreams: 200 });
 * app.addHook('preClose', async () => live.closeAll());
 */
export class LiveStreams {
  private readonly options: Required<LiveOptions>;
  private readonly byExperiment = new Map<string, Set<LiveStream>>();
  private count = 0;
  private subscription: ChangeSubscription | undefined;

  constructor(
    private readonly feed: ChangeFeed,
    options: LiveOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Streams open now. */
  get size(): number {
    return this.count;
  }

  /**
   * Serves one stream on `reply` until the client leaves, the stream's time is up or the server
   * closes. Its first bytes go out once changes committed from then on will reach it, so a client
   * that has them (EventSource's `open`) misses nothing written after.
   */
  async serve(reply: FastifyReply, filter: StreamFilter): Promise<void> {
    if (this.count >= this.options.maxStreams) {
      await reply
        .status(503)
        .header('retry-after', String(FULL_RETRY_AFTER_SECONDS))
        .send({ error_code: ErrorCode.TEMPORARILY_UNAVAILABLE, message: `This server serves as many live streams as it takes; retry in ${FULL_RETRY_AFTER_SECONDS} s.` });
      return;
    }
    this.count++;
    this.subscription ??= this.feed.subscribe({
      changed: (changes) => this.deliver(changes),
      missed: () => this.everyStream((stream) => stream.offer(experimentChange(stream.filter.experimentId))),
    });
    const ready = this.subscription.ready;
    reply.hijack();
    const stream = new LiveStream(reply.raw, filter, this.options, () => this.remove(stream));
    let streams = this.byExperiment.get(filter.experimentId);
    if (!streams) this.byExperiment.set(filter.experimentId, (streams = new Set()));
    streams.add(stream);
    await ready;
    stream.start();
  }

  /** Ends every stream (the server is closing: they would keep it from closing). */
  closeAll(): void {
    this.everyStream((stream) => stream.end());
  }

  private deliver(changes: readonly TraceChange[]): void {
    for (const change of changes) {
      const streams = this.byExperiment.get(change.experimentId);
      if (streams) for (const stream of streams) stream.offer(change);
    }
  }

  private everyStream(action: (stream: LiveStream) => void): void {
    for (const streams of [...this.byExperiment.values()]) for (const stream of [...streams]) action(stream);
  }

  private remove(stream: LiveStream): void {
    const streams = this.byExperiment.get(stream.filter.experimentId);
    if (!streams?.delete(stream)) return;
    if (streams.size === 0) this.byExperiment.delete(stream.filter.experimentId);
    if (--this.count === 0) {
      this.subscription?.unsubscribe();
      this.subscription = undefined;
    }
  }
}

/** One client's stream: its changes merged between events, heartbeats, an end. */
class LiveStream {
  private readonly pending = new Map<string, TraceChange>();
  private started = false;
  private ended = false;
  private lastEventAt = 0;
  private eventTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly deadline: NodeJS.Timeout;

  constructor(
    private readonly response: ServerResponse,
    readonly filter: StreamFilter,
    private readonly options: Required<LiveOptions>,
    private readonly onEnd: () => void,
  ) {
    // The client left, or the stream ended.
    response.on('close', () => this.end());
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), options.heartbeatMillis).unref();
    this.deadline = setTimeout(() => this.end(), options.maxStreamMillis).unref();
  }

  /** Sends the headers and whatever changed while the feed was getting ready. */
  start(): void {
    if (this.ended) return;
    this.started = true;
    this.response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // Proxies that buffer responses (nginx) pass this one through as it comes.
      'x-accel-buffering': 'no',
    });
    this.write(`retry: ${RECONNECT_MILLIS}\n: live\n\n`);
    if (this.pending.size > 0) this.schedule();
  }

  offer(change: TraceChange): void {
    if (this.ended) return;
    if (this.filter.sessionId !== undefined && change.kind !== 'experiment' && change.sessionId !== this.filter.sessionId) return;
    const key = changeKey(change);
    this.pending.delete(key);
    this.pending.set(key, change);
    if (this.pending.size > MAX_PENDING_CHANGES) {
      this.pending.clear();
      this.pending.set('experiment', experimentChange(this.filter.experimentId));
    }
    if (this.started) this.schedule();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.deadline);
    clearTimeout(this.eventTimer);
    this.pending.clear();
    if (!this.response.writableEnded) this.response.end();
    this.onEnd();
  }

  /** At most one event per `minEventIntervalMillis`: the first of a burst at once, the rest together after. */
  private schedule(): void {
    if (this.eventTimer) return;
    const wait = Math.max(0, this.lastEventAt + this.options.minEventIntervalMillis - Date.now());
    this.eventTimer = setTimeout(() => {
      this.eventTimer = undefined;
      this.send();
    }, wait);
  }

  private send(): void {
    if (this.ended || this.pending.size === 0) return;
    const data: LiveChangesJson = { changes: [...this.pending.values()].map(changeJson) };
    this.pending.clear();
    this.lastEventAt = Date.now();
    this.write(`event: ${LIVE_CHANGES_EVENT}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(text: string): void {
    if (this.ended || !this.started) return;
    // A client that stopped reading would have the server hold its events without end.
    if (this.response.writableLength > MAX_UNSENT_BYTES) return this.end();
    this.response.write(text);
  }
}

function changeJson(c: TraceChange): LiveChangeJson {
  return { experiment_id: c.experimentId, trace_id: c.traceId, session_id: c.sessionId, user_id: c.userId, kind: c.kind };
}
