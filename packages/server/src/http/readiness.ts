import type { TraceStore } from '../store/store.js';

/** How long a readiness probe waits for the database before it says "not ready". */
const PING_TIMEOUT_MILLIS = 2_000;

/**
 * Whether the store answers, for `/health/ready`. Probes arriving while one is under way share
 * its answer, so a storm of probes is one query, and none waits longer than the ping timeout
 * (a PostgreSQL that stopped answering would otherwise hold it for the pool's connect timeout).
 */
export class ReadinessCheck {
  private inFlight: Promise<string | undefined> | undefined;

  constructor(
    private readonly store: Pick<TraceStore, 'ping'>,
    private readonly timeoutMillis = PING_TIMEOUT_MILLIS,
  ) {}

  /** Why the store is not ready, or `undefined` when it answered. */
  problem(): Promise<string | undefined> {
    this.inFlight ??= this.probe().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async probe(): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`the database did not answer within ${this.timeoutMillis} ms`), this.timeoutMillis);
    });
    try {
      return await Promise.race([
        this.store.ping().then(
          () => undefined,
          (error: unknown) => `the database cannot be reached (${(error as Error)?.message ?? String(error)})`,
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
