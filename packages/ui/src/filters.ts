import { isWordSearch, TEXT_FIELD } from './word-search';

/**
 * Building filter strings from quick filters. Values are quoted with single quotes and a quote
 * inside is doubled (`'it''s'`), as Threadline's language reads it; the MLflow UI pastes values
 * unescaped, which breaks on the first apostrophe.
 */
export function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export const USER_KEY = 'metadata.`mlflow.trace.user`';
export const SESSION_KEY = 'metadata.`mlflow.trace.session`';

export const TIME_RANGES: Record<string, { label: string; ms: number | null }> = {
  '1h': { label: 'Last hour', ms: 3_600_000 },
  '24h': { label: 'Last 24 hours', ms: 86_400_000 },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000 },
  '30d': { label: 'Last 30 days', ms: 30 * 86_400_000 },
  all: { label: 'All time', ms: null },
};

/** The cost quick filter's thresholds (USD): traces that cost more than one of them. */
export const COST_THRESHOLDS_USD: readonly number[] = [0, 0.01, 0.1, 1];

export interface TraceQuickFilters {
  user?: string | null;
  session?: string | null;
  state?: string | null;
  range?: string | null;
  /** USD: only traces that cost more (a number, as text from the URL). */
  cost?: string | null;
}

/** Start of a relative range, rounded to the minute so that the query (and its cache key) stays put. */
export function rangeStart(range: string | null | undefined, now = Date.now()): number | null {
  const r = range ? TIME_RANGES[range] : undefined;
  if (!r || r.ms === null) return null;
  return Math.floor((now - r.ms) / 60_000) * 60_000;
}

/**
 * The filter that a filter box's text stands for: the text as typed, or, when it is plain words
 * (see isWordSearch), a word search for them: `refund "late delivery"` becomes
 * `trace.text MATCH 'refund "late delivery"'`. `textOffset` is where the typed text starts in the
 * result, to map an error position back into the input; `words` says which it is.
 */
export function typedFilter(text: string): { filter: string; textOffset: number; words: boolean } {
  const typed = text.trim();
  const start = text.indexOf(typed);
  if (!isWordSearch(typed)) return { filter: typed, textOffset: -start, words: false };
  const match = `${TEXT_FIELD} MATCH `;
  // Words hold no single quote (that would be a filter); a backslash could escape the closing one,
  // and between words it is a separator like a space.
  return { filter: match + quote(typed.replace(/\\/g, ' ')), textOffset: match.length + 1 - start, words: true };
}

/**
 * The filter sent to the server: the typed text first (see typedFilter), in parentheses when
 * quick filters follow (so its `OR`s stay inside), then each quick filter. `textOffset` is where
 * the typed text starts in the result, to map an error position back into the input.
 */
export function combineTraceFilter(text: string, quick: TraceQuickFilters, now?: number): { filter: string; textOffset: number } {
  const clauses: string[] = [];
  if (quick.user) clauses.push(`${USER_KEY} = ${quote(quick.user)}`);
  if (quick.session) clauses.push(`${SESSION_KEY} = ${quote(quick.session)}`);
  if (quick.state) clauses.push(`trace.status = ${quote(quick.state)}`);
  // A number or nothing: the URL's text never reaches the filter as it is.
  const cost = quick.cost ? Number(quick.cost) : NaN;
  if (Number.isFinite(cost)) clauses.push(`trace.cost > ${cost}`);
  const start = rangeStart(quick.range, now);
  if (start !== null) clauses.push(`trace.timestamp_ms >= ${start}`);
  const typed = typedFilter(text);
  if (!typed.filter) return { filter: clauses.join(' AND '), textOffset: 0 };
  // Parentheses only when needed to keep an OR inside, so that most error messages speak of
  // the text as typed.
  if (clauses.length === 0 || typed.words || !/\bOR\b/i.test(typed.filter)) return { filter: [typed.filter, ...clauses].join(' AND '), textOffset: typed.textOffset };
  return { filter: `(${typed.filter}) AND ${clauses.join(' AND ')}`, textOffset: typed.textOffset + 1 };
}

/**
 * The offending token's place in the typed text, from the server's message ("... at position
 * 20" or "... position 20"), or null when the message names none or it falls outside the text.
 */
export function errorSpan(message: string, text: string, textOffset: number): { start: number; end: number } | null {
  // A message may name several places ("the '(' at position 0, found 'x' at position 21"): the
  // offending token is the last one that falls in the typed text.
  const starts = [...message.matchAll(/position (\d+)/gi)].map((m) => Number(m[1]) - textOffset).filter((p) => p >= 0 && p <= text.length);
  const start = starts[starts.length - 1];
  if (start === undefined) return null;
  if (start === text.length) return { start: Math.max(0, start - 1), end: text.length };
  let end = start + 1;
  const first = text[start]!;
  if (first === "'" || first === '`' || first === '"') {
    const close = text.indexOf(first, start + 1);
    end = close < 0 ? text.length : close + 1;
  } else if (/[\w.]/.test(first)) {
    while (end < text.length && /[\w.`]/.test(text[end]!)) end++;
  } else {
    while (end < text.length && /[<>=!]/.test(text[end]!)) end++;
  }
  return { start, end };
}
