import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { changeKey, experimentChange, LocalChangeFeed, type ChangeFeed, type ChangeListener, type ChangeSubscription, type TraceChange } from '../change-feed.js';
import type { Database } from '../schema.js';

/** The channel every replica's changes go out on (`NOTIFY threadline_changes, '<json>'`). */
export const CHANGES_CHANNEL = 'threadline_changes';
/** PostgreSQL refuses a payload of 8000 bytes or more; each NOTIFY's stays under this. */
const MAX_PAYLOAD_BYTES = 7_000;
/**
 * Changes waiting for their NOTIFY beyond this many (a burst, or a database too slow to keep up)
 * are told as one `experiment` change per experiment: listeners fetch everything again anyway.
 */
const MAX_WAITING_CHANGES = 500;
/** How long changes are gathered before they are sent: far under the second a live view may take. */
const NOTIFY_GATHER_MILLIS = 20;
const LISTEN_CHECK_MILLIS = 30_000;
const LISTEN_CHECK_TIMEOUT_MILLIS = 5_000;

/** One NOTIFY's payload: the schema it concerns (replicas of other deployments may share the database), who sent it, the changes. */
interface Payload {
  schema: string;
  origin: string;
  changes: TraceChange[];
}

export interface PostgresChangeFeedOptions {
  /** Where NOTIFY goes: the store's pool. */
  db: Kysely<Database>;
  /** A new client (not yet connected) for the LISTEN connection. */
  newClient: () => pg.Client;
  /** The store's schema: notifications about another one are ignored. */
  schema: string;
  /** How long LISTEN stays on after the last listener left, for the next one (a page opened after another). Default 5 000 ms. */
  lingerMillis?: number;
  /** First wait before connecting again after LISTEN's connection was lost; doubled each time up to 10 s. Default 250 ms. */
  reconnectMillis?: number;
}

/**
 * The change feed of a PostgreSQL store, which any number of replicas share (DESIGN.md §8): what
 * this process writes reaches its own listeners at once (LocalChangeFeed) and the other replicas
 * through `NOTIFY threadline_changes` after it committed; what they write comes back through one
 * `LISTEN` connection per replica, open only while this replica has listeners (and a few seconds
 * after, see `lingerMillis`).
 *
 * Cost: NOTIFY is sent off the write path, one statement at a time per replica, each carrying
 * every change committed while the previous one was under way; so a replica sends at most one
 * NOTIFY per round trip however fast it ingests, and none while nothing is written. (Whether any
 * replica listens is not known here without asking the database for it, which would cost as much.)
 * A NOTIFY that fails (the database is down, and so are the writes) is dropped: listeners elsewhere
 * miss those changes, as they would have missed them anyway.
 *
 * A lost LISTEN connection (a restart, a failover, a silent network) is noticed by its 'end' or by
 * a check every 30 s, and opened again with backoff; listeners are then told they may have missed
 * changes (`missed`).
 */
export class PostgresChangeFeed implements ChangeFeed {
  private readonly local = new LocalChangeFeed();
  /** Tells this process's own notifications, which it already delivered, from the others'. */
  private readonly origin = randomBytes(8).toString('hex');
  private readonly lingerMillis: number;
  private readonly reconnectMillis: number;
  private waiting: TraceChange[] = [];
  private sending: Promise<void> | undefined;
  private listeners = 0;
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private failures = 0;
  /** Set when the connection was lost or could not be made: changes may have gone unheard. */
  private gap = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: PostgresChangeFeedOptions) {
    this.lingerMillis = options.lingerMillis ?? 5_000;
    this.reconnectMillis = options.reconnectMillis ?? 250;
  }

  get listening(): boolean {
    return this.listeners > 0;
  }

  /** The server process of the LISTEN connection, while there is one (for tests and diagnostics). */
  get listenerProcessId(): number | undefined {
    return (this.client as { processID?: number } | undefined)?.processID;
  }

  publish(changes: readonly TraceChange[]): void {
    this.local.publish(changes);
    if (this.closed || changes.length === 0) return;
    this.waiting.push(...changes);
    if (this.waiting.length > MAX_WAITING_CHANGES) this.waiting = broadened(this.waiting);
    this.sending ??= this.send();
  }

  subscribe(listener: ChangeListener): ChangeSubscription {
    const subscription = this.local.subscribe(listener);
    this.listeners++;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    const ready = this.listen();
    let left = false;
    return {
      ready,
      unsubscribe: () => {
        if (left) return;
        left = true;
        subscription.unsubscribe();
        if (--this.listeners === 0 && !this.closed) {
          this.lingerTimer = setTimeout(() => {
            this.lingerTimer = undefined;
            if (this.listeners === 0) this.unlisten();
          }, this.lingerMillis).unref();
        }
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners = 0;
    clearTimeout(this.lingerTimer);
    this.unlisten();
    await this.connecting;
    await this.sending;
    await this.local.close();
  }

  // ---- NOTIFY ---------------------------------------------------------------------------------

  private async send(): Promise<void> {
    // The writes committing within the next few milliseconds go out together: a NOTIFY is a
    // transaction of its own (~0.75 ms of the database's time each), and sent per write it was
    // the costliest statement of ingest (bench/ingest/postgres.js).
    await new Promise((resolve) => setTimeout(resolve, NOTIFY_GATHER_MILLIS));
    while (this.waiting.length > 0) {
      const changes = this.waiting;
      this.waiting = [];
      const payloads = payloadsOf({ schema: this.options.schema, origin: this.origin, changes });
      try {
        // One statement for all of them; PostgreSQL delivers them in this order, after this commits.
        await sql`SELECT pg_notify(${CHANGES_CHANNEL}, payload) FROM unnest(${payloads}::text[]) AS payload`.execute(this.options.db);
      } catch {
        // Dropped (see the class comment); the writes that made them have committed and stay.
      }
    }
    this.sending = undefined;
  }

  // ---- LISTEN ---------------------------------------------------------------------------------

  /** Resolves once LISTEN is on, or this attempt failed (another is scheduled). */
  private listen(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.options.newClient();
    // A lost connection emits 'error' (which would crash the process unheard) and then 'end'.
    client.on('error', () => {});
    client.on('notification', (message) => {
      if (client === this.client && message.channel === CHANGES_CHANNEL && message.payload) this.heard(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch {
      void client.end().catch(() => {});
      this.gap = true;
      this.retryLater();
      return;
    }
    client.once('end', () => this.lost(client));
    this.client = client;
    this.failures = 0;
    this.checkTimer = setInterval(() => void this.check(client), LISTEN_CHECK_MILLIS).unref();
    if (this.closed || (this.listeners === 0 && !this.lingerTimer)) return this.unlisten();
    if (this.gap) {
      this.gap = false;
      this.local.missed();
    }
  }

  /** A connection that no longer answers (a peer gone without a word) is given up for a new one. */
  private async check(client: pg.Client): Promise<void> {
    try {
      await client.query({ text: 'SELECT 1', query_timeout: LISTEN_CHECK_TIMEOUT_MILLIS } as pg.QueryConfig);
    } catch {
      this.lost(client);
      void client.end().catch(() => {});
    }
  }

  private lost(client: pg.Client): void {
    if (client !== this.client) return;
    this.client = undefined;
    clearInterval(this.checkTimer);
    if (this.closed || this.listeners === 0) return;
    this.gap = true;
    this.retryLater();
  }

  private retryLater(): void {
    if (this.closed || this.listeners === 0 || this.retryTimer) return;
    const delay = Math.min(10_000, this.reconnectMillis * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed && this.listeners > 0) void this.listen();
    }, delay).unref();
  }

  private unlisten(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    clearInterval(this.checkTimer);
    const client = this.client;
    this.client = undefined;
    void client?.end().catch(() => {});
  }

  private heard(text: string): void {
    let payload: Partial<Payload>;
    try {
      payload = JSON.parse(text) as Partial<Payload>;
    } catch {
      return;
    }
    if (payload.schema !== this.options.schema || payload.origin === this.origin || !Array.isArray(payload.changes)) return;
    this.local.publish(payload.changes.filter(isChange));
  }
}

/** The changes as NOTIFY payloads, each under the size PostgreSQL takes; one too large alone is told as its experiment's. */
function payloadsOf({ changes, ...header }: Payload): string[] {
  // `{"schema":…,"origin":…,"changes":[` + the changes' JSON, comma-separated + `]}`.
  const head = JSON.stringify(header).slice(0, -1) + ',"changes":[';
  const room = MAX_PAYLOAD_BYTES - Buffer.byteLength(head) - 2;
  const texts: string[] = [];
  let batch: string[] = [];
  let bytes = 0;
  for (const change of deduplicated(changes)) {
    let item = JSON.stringify(change);
    // A change with ids of thousands of characters: its experiment stands for it.
    if (Buffer.byteLength(item) > room) item = JSON.stringify(experimentChange(change.experimentId));
    const size = Buffer.byteLength(item) + 1;
    if (bytes + size > room && batch.length > 0) {
      texts.push(`${head}${batch.join(',')}]}`);
      [batch, bytes] = [[], 0];
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) texts.push(`${head}${batch.join(',')}]}`);
  return texts;
}

/** Each change once (its last place), in order. */
function deduplicated(changes: readonly TraceChange[]): TraceChange[] {
  const byKey = new Map<string, TraceChange>();
  for (const c of changes) {
    const key = changeKey(c);
    byKey.delete(key);
    byKey.set(key, c);
  }
  return [...byKey.values()];
}

/** One `experiment` change per experiment, for more changes than are worth naming. */
function broadened(changes: readonly TraceChange[]): TraceChange[] {
  return [...new Set(changes.map((c) => c.experimentId))].map(experimentChange);
}

const KINDS = new Set(['trace', 'spans', 'deleted', 'assessment', 'experiment']);
const idOrNull = (v: unknown) => v === null || typeof v === 'string';

/** A change as another replica sent it (a NOTIFY anyone connected may send: checked, not trusted). */
function isChange(value: unknown): value is TraceChange {
  const c = value as TraceChange;
  return typeof c === 'object' && c !== null && typeof c.experimentId === 'string' && KINDS.has(c.kind) && idOrNull(c.traceId) && idOrNull(c.sessionId) && idOrNull(c.userId);
}
