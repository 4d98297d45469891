import { invalidParameter } from './errors.js';

/**
 * Text that names or labels something (ids, names, metadata, tags) must not hold a NUL
 * character (U+0000): PostgreSQL cannot store one in text, and SQLite would store what
 * PostgreSQL refuses. Refused the same way on both stores, before anything is written. Content
 * (span inputs, outputs, attributes) keeps NULs exactly, escaped inside its JSON; previews show
 * them as U+FFFD (`truncatePreview`).
 *
 * @example
 * refuseNul(userId, "metadata 'mlflow.trace.user'");
 */
export function refuseNul<T extends string | null>(value: T, where: string): T {
  if (value !== null && value.includes('\u0000')) throw invalidParameter(`${where} contains a NUL character (U+0000), which is not accepted in ids, names, tags, metadata or parameters.`);
  return value;
}

/** Whether any of the strings holds a NUL character. */
export function anyNul(values: Iterable<string | null>): boolean {
  for (const value of values) if (value !== null && value.includes('\u0000')) return true;
  return false;
}
