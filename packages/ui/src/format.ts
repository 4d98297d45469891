import type { TraceInfoJson } from '@threadline/protocol';
import { objectOf } from '../../server/src/json-object.js';

export const USER_METADATA = 'mlflow.trace.user';
export const SESSION_METADATA = 'mlflow.trace.session';
export const COST_METADATA = 'mlflow.trace.cost';

const nf = new Intl.NumberFormat('en-US');
export const num = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : nf.format(n));

export function compact(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (Math.abs(n) < 1000) return String(Math.round(n * 10) / 10);
  if (Math.abs(n) < 1e6) return `${Math.round(n / 100) / 10}k`;
  if (Math.abs(n) < 1e9) return `${Math.round(n / 1e5) / 10}M`;
  return `${Math.round(n / 1e8) / 10}B`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h ${Math.round((ms % 3_600_000) / 60_000)}m`;
}

// Times read in the browser's time zone, which is named wherever a time stands alone (cards,
// tooltips); a table names it once, in its column header (`zoneName()`), and leaves the year out
// of its cells for times of the current year.
const TIME = { hour: '2-digit', minute: '2-digit', second: '2-digit' } as const;
const full = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', ...TIME, timeZoneName: 'short' });
const fullMs = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', ...TIME, fractionalSecondDigits: 3, timeZoneName: 'short' });
const short = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', ...TIME });
const shortYear = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', ...TIME });
const clock = new Intl.DateTimeFormat(undefined, { ...TIME, timeZoneName: 'short' });
const clockMs = new Intl.DateTimeFormat(undefined, { ...TIME, fractionalSecondDigits: 3, timeZoneName: 'short' });
const dayKey = (ms: number) => new Date(ms).toDateString();

/** `Nov 20, 2026, 10:00:05 AM UTC`: a time on its own, with its year and time zone. */
export const dateTime = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '–' : full.format(new Date(ms)));

/** `Nov 20, 10:00:05 AM` (the year only when not the current one), for table cells under a header that names the zone. */
export function shortTime(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return '–';
  return (new Date(ms).getFullYear() === new Date(now).getFullYear() ? short : shortYear).format(new Date(ms));
}

/** The browser's time zone as times here are written in it: `UTC`, `EST`, `GMT+2`. */
export function zoneName(): string {
  return full.formatToParts(new Date()).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/**
 * `start → end`, the end without its date when on the same day, and with milliseconds when whole
 * seconds would write both the same (a session whose turns all came within one second).
 */
export function timeRange(startMs: number, endMs: number): string {
  const precise = Math.floor(startMs / 1000) === Math.floor(endMs / 1000);
  const first = (precise ? fullMs : full).format(new Date(startMs));
  const last = dayKey(startMs) === dayKey(endMs) ? (precise ? clockMs : clock).format(new Date(endMs)) : (precise ? fullMs : full).format(new Date(endMs));
  return `${first} → ${last}`;
}

/** A table cell's time: short, with the full time and how long ago in its tooltip. */
export const timeTitle = (ms: number): string => `${dateTime(ms)} (${ago(ms)})`;
export const isoTime = (ms: number): string => new Date(ms).toISOString();

export function ago(ms: number, now = Date.now()): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** `"1.5s"` (protobuf Duration JSON) in milliseconds. */
export function durationMs(value: string | undefined): number | null {
  if (!value) return null;
  const m = /^(-?\d+(?:\.\d+)?)s$/.exec(value);
  return m ? Math.round(Number(m[1]) * 1000 * 1000) / 1000 : null;
}

export const requestTimeMs = (info: TraceInfoJson): number => (info.request_time ? Date.parse(info.request_time) : 0);
export const userOf = (info: TraceInfoJson): string | undefined => info.trace_metadata?.[USER_METADATA];
export const sessionOf = (info: TraceInfoJson): string | undefined => info.trace_metadata?.[SESSION_METADATA];

export interface Tokens {
  input: number | null;
  output: number | null;
  total: number | null;
}
/** Token usage from metadata `mlflow.trace.tokenUsage`, or null. */
export const tokensOf = (info: TraceInfoJson): Tokens | null => tokensFrom(info.trace_metadata?.['mlflow.trace.tokenUsage']);

/**
 * Token usage in MLflow's shape, `{input_tokens, output_tokens, total_tokens}`, as trace metadata
 * `mlflow.trace.tokenUsage` and span attribute `mlflow.chat.tokenUsage` hold it: the object or its JSON text.
 */
export function tokensFrom(raw: unknown): Tokens | null {
  const u = objectOf(raw);
  if (!u) return null;
  const input = numberOrNull(u.input_tokens);
  const output = numberOrNull(u.output_tokens);
  const total = numberOrNull(u.total_tokens) ?? (input !== null || output !== null ? (input ?? 0) + (output ?? 0) : null);
  return total === null ? null : { input, output, total };
}

const numberOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

const dollars = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });

/**
 * US dollars: cents from a dollar up (`$1,234.50`), three significant digits below it, since
 * one LLM call often costs a fraction of a cent (`$0.0123`, `$0.00045`, `$0.50`).
 */
export function usd(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (value === 0) return '$0.00';
  if (Math.abs(value) >= 1) return dollars.format(value);
  // Costs are kept in nano-dollars: no digit past the ninth means anything.
  const decimals = Math.min(9, Math.max(2, 2 - Math.floor(Math.log10(Math.abs(value)))));
  return `$${value.toFixed(decimals).replace(/(\.\d\d\d*?)0+$/, '$1')}`;
}

/** A sum of costs that is 0 when nothing was priced (a session's, a user's, a bucket's): none, not $0.00. */
export const spend = (value: number | null | undefined): string => usd(value ? value : null);

export interface Cost {
  input: number | null;
  output: number | null;
  total: number;
}
/**
 * A cost in MLflow's shape, `{input_cost?, output_cost?, total_cost}` in USD, as trace metadata
 * `mlflow.trace.cost` and span attribute `mlflow.llm.cost` hold it: the object or its JSON text.
 */
export function costFrom(raw: unknown): Cost | null {
  const c = objectOf(raw);
  const total = c ? numberOrNull(c.total_cost) : null;
  return c && total !== null ? { input: numberOrNull(c.input_cost), output: numberOrNull(c.output_cost), total } : null;
}

/** The trace's cost from metadata `mlflow.trace.cost` (the server's price of its LLM calls), or null. */
export const traceCostOf = (info: TraceInfoJson): Cost | null => costFrom(info.trace_metadata?.[COST_METADATA]);

/** `$0.0012 in · $0.0030 out`, or undefined when the parts are not known. */
export const costParts = (cost: Cost | null): string | undefined => (cost && cost.input !== null && cost.output !== null ? `${usd(cost.input)} in · ${usd(cost.output)} out` : undefined);

/** Tags meant for people: not MLflow's own bookkeeping (`mlflow.*`). */
export function userTags(info: TraceInfoJson): [string, string][] {
  return Object.entries(info.tags ?? {}).filter(([k]) => !k.startsWith('mlflow.'));
}

export const traceName = (info: TraceInfoJson): string => info.tags?.['mlflow.traceName'] ?? '';

/** A one-line preview: whitespace collapsed, cut for table cells. */
export function oneLine(text: string | null | undefined, max = 300): string {
  if (!text) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? flat.slice(0, max) + '…' : flat;
}
