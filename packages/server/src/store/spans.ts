import { SpanAttributeKey } from '@threadline/protocol';
import { sql, type Kysely, type Transaction } from 'kysely';
import { spanToMlflowJson } from '../ingest/span-json.js';
import type { UsageSpan } from '../ingest/trace-derivation.js';
import type { SpanRecord } from '../trace-model.js';
import { insertRows } from './fast-sql.js';
import type { Database } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';
import { indexSpanText } from './trace-text.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Large id lists are read in chunks, well under every database's bound-parameter limit. */
const ID_CHUNK = 500;

/** The columns of a span's own row (`SpanToStore`), stored after its trace's key. */
const ROW_COLUMNS = ['span_id', 'parent_span_id', 'name', 'type', 'status', 'start_ns', 'end_ns', 'content'] as const;
const SPAN_COLUMNS = ['trace_key', ...ROW_COLUMNS] as const;
const SPAN_COLUMNS_WITH_DOCUMENT = [...SPAN_COLUMNS, 'text_doc'] as const;

/** A span with the row it is stored as, but for the trace's key (given where it is inserted). */
export interface SpanToStore {
  span: SpanRecord;
  row: ReturnType<typeof spanRow>;
}

/**
 * A batch's spans with the rows they are stored as; of two spans with one id, the first is taken
 * and the id answered in `conflicting` when the other says something else.
 */
export function spansToStore(traceId: string, spans: readonly SpanRecord[]): { spans: SpanToStore[]; conflicting: string[] } {
  const byId = new Map<string, SpanToStore>();
  const conflicting = new Set<string>();
  for (const span of spans) {
    const row = spanRow(traceId, span);
    const seen = byId.get(span.spanId);
    if (!seen) byId.set(span.spanId, { span, row });
    else if (seen.row.content !== row.content) conflicting.add(span.spanId);
  }
  return { spans: [...byId.values()], conflicting: [...conflicting].sort() };
}

/**
 * Spans are write-once: a span id, once stored for a trace, keeps its content. This sorts spans
 * into those new to the trace, those it repeats exactly (a retry: nothing to write), and those
 * that would change a stored one. Stored spans are only read when the trace has some.
 */
export async function againstStored(
  trx: Db,
  traceKey: number,
  spans: readonly SpanToStore[],
  traceHasSpans: boolean,
): Promise<{ fresh: SpanToStore[]; repeated: SpanToStore[]; conflicting: string[] }> {
  if (!traceHasSpans) return { fresh: [...spans], repeated: [], conflicting: [] };
  const stored = new Map<string, string>();
  for (let i = 0; i < spans.length; i += ID_CHUNK) {
    const ids = spans.slice(i, i + ID_CHUNK).map((s) => s.span.spanId);
    const rows = await trx.selectFrom('spans').select(['span_id', 'content']).where('trace_key', '=', traceKey).where('span_id', 'in', ids).execute();
    for (const r of rows) stored.set(r.span_id, r.content);
  }
  const out = { fresh: [] as SpanToStore[], repeated: [] as SpanToStore[], conflicting: [] as string[] };
  for (const entry of spans) {
    const content = stored.get(entry.span.spanId);
    if (content === undefined) out.fresh.push(entry);
    else if (content === entry.row.content) out.repeated.push(entry);
    else out.conflicting.push(entry.span.spanId);
  }
  out.conflicting.sort();
  return out;
}

/**
 * Inserts spans `againstStored` found new, all of one trace, and adds their words to the text
 * index as one document, which the spans name where the database keeps that (SQLite); the
 * trace's row lock keeps anyone else from adding them meanwhile.
 */
export async function insertSpans(trx: Db, dialect: SqlDialect, traceKey: number, spans: readonly SpanToStore[]): Promise<void> {
  if (spans.length === 0) return;
  // In span id order, the order a document's words are read in again (sqlite/text-documents.ts).
  const ordered = [...spans].sort((a, b) => (a.span.spanId < b.span.spanId ? -1 : a.span.spanId > b.span.spanId ? 1 : 0));
  const documentId = await indexSpanText(trx, dialect, traceKey, ordered.map((s) => s.span));
  const columns = documentId == null ? SPAN_COLUMNS : SPAN_COLUMNS_WITH_DOCUMENT;
  for (let i = 0; i < ordered.length; i += ID_CHUNK) {
    const rows = ordered.slice(i, i + ID_CHUNK).map(({ row }) => {
      const values: unknown[] = [traceKey, ...ROW_COLUMNS.map((column) => row[column])];
      if (documentId != null) values.push(documentId);
      return values;
    });
    await insertRows(trx, 'spans', columns, rows, 'ON CONFLICT (trace_key, span_id) DO NOTHING');
  }
}

/** The name of a trace's stored root span (the earliest, if several claim to be), if it has one. */
export async function rootSpanName(trx: Db, traceKey: number): Promise<string | null> {
  const row = await trx.selectFrom('spans').select('name').where('trace_key', '=', traceKey).where('parent_span_id', 'is', null).orderBy('start_ns').limit(1).executeTakeFirst();
  return row?.name ?? null;
}

/**
 * The trace's spans as token sums need them: this batch's, plus the stored others with their
 * ids and parents, reading (and parsing) the JSON only of spans that mention a token usage.
 */
export async function usageSpans(trx: Db, traceKey: number, batch: readonly SpanRecord[]): Promise<UsageSpan[]> {
  const inBatch = new Set(batch.map((s) => s.spanId));
  const rows = await trx
    .selectFrom('spans')
    .select(['span_id', 'parent_span_id', sql<string | null>`CASE WHEN content LIKE ${`%"${SpanAttributeKey.TOKEN_USAGE}"%`} THEN content END`.as('content')])
    .where('trace_key', '=', traceKey)
    .execute();
  const spans: UsageSpan[] = [...batch];
  for (const row of rows) {
    if (inBatch.has(row.span_id)) continue;
    const usage = row.content === null ? undefined : storedTokenUsage(row.content);
    spans.push({ spanId: row.span_id, parentSpanId: row.parent_span_id, attributes: usage === undefined ? {} : { [SpanAttributeKey.TOKEN_USAGE]: usage } });
  }
  return spans;
}

/** `mlflow.chat.tokenUsage` from stored span JSON, where attribute values are JSON-encoded. */
function storedTokenUsage(content: string): unknown {
  try {
    const encoded = (JSON.parse(content) as { attributes?: Record<string, unknown> }).attributes?.[SpanAttributeKey.TOKEN_USAGE];
    return typeof encoded === 'string' ? JSON.parse(encoded) : undefined;
  } catch {
    return undefined;
  }
}

/** A stored span's attributes, decoded (they are stored JSON-encoded, as MLflow stores them). */
export function storedSpanAttributes(content: string): Record<string, unknown> {
  try {
    const encoded = (JSON.parse(content) as { attributes?: Record<string, unknown> }).attributes ?? {};
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(encoded)) {
      try {
        out[key] = typeof value === 'string' ? JSON.parse(value) : value;
      } catch {
        out[key] = value;
      }
    }
    return out;
  } catch {
    return {};
  }
}

function spanRow(traceId: string, span: SpanRecord) {
  return {
    span_id: span.spanId,
    parent_span_id: span.parentSpanId,
    name: span.name,
    type: span.type,
    status: span.status,
    start_ns: span.startNs.toString(),
    end_ns: span.endNs === null ? null : span.endNs.toString(),
    content: spanToMlflowJson(traceId, span),
  };
}
