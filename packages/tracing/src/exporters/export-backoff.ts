/** Node's timers hold at most 2^31 − 1 ms; a longer delay fires at once, which would make a hot loop. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1;

/** Options of `ExportBackoff`: the export queue's options of the same names. */
export interface ExportBackoffOptions {
  /** Ceiling of the first wait. Default 500 ms. */
  initialBackoffMillis?: number;
  /** Ceiling of every wait, a server's Retry-After included. Default 30 000 ms. */
  maxBackoffMillis?: number;
  /** Source of the jitter, in [0, 1]. Default `Math.random`. */
  random?: () => number;
}

/**
 * How long the export queue waits before its next attempt after `failures` export calls in a row
 * failed transiently. The n-th wait's ceiling is `initialBackoffMillis · 2^(n−1)`, at most
 * `maxBackoffMillis`, and the wait is drawn between half that ceiling and the ceiling ("equal
 * jitter"): clients that failed together spread out, and half the ceiling is a floor that holds
 * whatever the jitter. Full jitter (anywhere in [0, ceiling]) has no floor, so it could neither
 * stop a hot loop nor guarantee how long an outage the retries outlast.
 *
 * A server's Retry-After is a minimum (RFC 9110 §10.2.3): the wait is the longer of it and the
 * queue's own, so `Retry-After: 0` cannot shorten the backoff, and it is cut to `maxBackoffMillis`,
 * so a server asking for an hour does not park the queue for an hour.
 *
 * @example
 * const backoff = new ExportBackoff({ initialBackoffMillis: 500, maxBackoffMillis: 30_000 });
 * backoff.delayMillis(1, 0); // 250..500 ms: Retry-After: 0 waits out the floor
 * backoff.delayMillis(9, 3_600_000); // 30 000 ms: an hour is cut to the ceiling
 */
export class ExportBackoff {
  readonly initialMillis: number;
  readonly maxMillis: number;
  private readonly random: () => number;

  constructor(options: ExportBackoffOptions = {}) {
    this.initialMillis = Math.min(Math.max(1, options.initialBackoffMillis ?? 500), MAX_TIMER_MILLIS);
    this.maxMillis = Math.min(Math.max(this.initialMillis, options.maxBackoffMillis ?? 30_000), MAX_TIMER_MILLIS);
    this.random = options.random ?? Math.random;
  }

  /** The ceiling of the wait after `failures` failed calls in a row (1 for the first). */
  ceilingMillis(failures: number): number {
    const exponent = Math.min(Math.max(failures - 1, 0), 30);
    return Math.min(this.maxMillis, this.initialMillis * 2 ** exponent);
  }

  /** The least that wait can be, whatever the jitter and the server say: half its ceiling. */
  floorMillis(failures: number): number {
    return this.ceilingMillis(failures) / 2;
  }

  /** The wait after `failures` failed calls in a row, given the longest Retry-After of the server, if any. */
  delayMillis(failures: number, retryAfterMillis?: number): number {
    const floor = this.floorMillis(failures);
    const own = floor + this.jitter() * floor;
    // NaN (from a custom exporter) would reach setTimeout as a 1 ms delay.
    const asked = retryAfterMillis === undefined || Number.isNaN(retryAfterMillis) ? 0 : retryAfterMillis;
    return Math.min(Math.max(own, asked), this.maxMillis);
  }

  /** A number in [0, 1]; an injected source that throws or strays falls back to Math.random. */
  private jitter(): number {
    try {
      const value = this.random();
      if (value >= 0 && value <= 1) return value;
    } catch {
      // Tracing never fails over its own options.
    }
    return Math.random();
  }
}
