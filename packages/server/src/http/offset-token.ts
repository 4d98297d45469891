import { invalidParameter } from '../errors.js';

/** Page tokens for small lists (experiments): base64 of `{"offset": N}`, as MLflow writes them. */
export function encodeOffsetToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

export function decodeOffsetToken(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    throw invalidParameter(`Invalid page token '${token}'.`);
  }
  const offset = (parsed as { offset?: unknown } | null)?.offset;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw invalidParameter(`Invalid page token '${token}'.`);
  return offset;
}
