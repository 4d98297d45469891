/**
 * The SDK's one logger. Tracing never throws into the application: every failure becomes a value
 * that ends up here, once per kind. Replace it with `setLogger` (or `init({ logger })`) to route
 * diagnostics into the application's own logging.
 */
export interface Logger {
  error(message: string, detail?: unknown): void;
  warn(message: string, detail?: unknown): void;
  info(message: string, detail?: unknown): void;
  debug(message: string, detail?: unknown): void;
}

const PREFIX = '[threadline]';

/** Writes to the console: the only place in the SDK that does. */
export const consoleLogger: Logger = {
  error: (message, detail) => (detail === undefined ? console.error(PREFIX, message) : console.error(PREFIX, message, detail)),
  warn: (message, detail) => (detail === undefined ? console.warn(PREFIX, message) : console.warn(PREFIX, message, detail)),
  info: (message, detail) => (detail === undefined ? console.info(PREFIX, message) : console.info(PREFIX, message, detail)),
  // Debug output is opt-in: install a logger that keeps it.
  debug: () => {},
};

/** Drops everything. */
export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };

let current: Logger = consoleLogger;

/**
 * Replaces the logger every part of the SDK reports through; `undefined` restores the console one.
 *
 * @example
 * setLogger({ error: (m, d) => pino.error({ d }, m), warn: (m) => pino.warn(m), info() {}, debug() {} });
 */
export function setLogger(logger: Logger | undefined): void {
  current = logger ?? consoleLogger;
}

/** The logger in use. */
export function getLogger(): Logger {
  return current;
}

type Level = 'error' | 'warn' | 'info' | 'debug';

/**
 * Reports each kind of problem once, however often it happens, until `reset()` (the exporter resets
 * it after a successful export, so a new outage is reported again). A logger that throws is ignored.
 */
export class OnceLog {
  private readonly seen = new Set<string>();

  /** Logs `message` unless `kind` was already logged since the last reset; returns whether it did. */
  log(kind: string, level: Level, message: string, detail?: unknown): boolean {
    if (this.seen.has(kind)) return false;
    this.seen.add(kind);
    try {
      current[level](message, detail);
    } catch {
      // A failing logger must not turn into a failing application.
    }
    return true;
  }

  has(kind: string): boolean {
    return this.seen.has(kind);
  }

  reset(): void {
    this.seen.clear();
  }
}

/** Reports once per process for warnings about API misuse (e.g. updateCurrentTrace outside a trace). */
export const usageWarnings = new OnceLog();
