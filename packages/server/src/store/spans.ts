import { SpanAttributeKey } from '@threadline/protocol';
import { sql, type Kysely, type Transaction } from 'kysely';
import { spanToMlflowJson } from '../ingest/span-json.js';
import type { UsageSpan } from '../ingest/trace-derivation.js';
import type { SpanRecord } from '../trace-model.js';
import type { Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Large id lists are read in chunks, well under every database's bound-parameter limit. */
const ID_CHUNK = 500;

/**
 * Inserts or replaces spans on (trace_id, span_id): a repeated span is the same span, resent.
 * Answers how many spans the trace now has.
 */
export async function upsertSpans(trx: Db, traceId: string, spans: readonly SpanRecord[]): Promise<number> {
  for (let i = 0; i < spans.length; i += ID_CHUNK) {
    const chunk = spans.slice(i, i + ID_CHUNK);
    await trx
      .insertInto('spans')
      .values(chunk.map((s) => spanRow(traceId, s)))
      .onConflict((oc) =>
        oc.columns(['trace_id', 'span_id']).doUpdateSet((eb) => ({
          parent_span_id: eb.ref('excluded.parent_span_id'),
          name: eb.ref('excluded.name'),
          type: eb.ref('excluded.type'),
          status: eb.ref('excluded.status'),
          start_ns: eb.ref('excluded.start_ns'),
          end_ns: eb.ref('excluded.end_ns'),
          content: eb.ref('excluded.content'),
        })),
      )
      .execute();
  }
  const row = await trx.selectFrom('spans').select((eb) => eb.fn.countAll<number>().as('n')).where('trace_id', '=', traceId).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The name of a trace's stored root span (the earliest, if several claim to be), if it has one. */
export async function rootSpanName(trx: Db, traceId: string): Promise<string | null> {
  const row = await trx.selectFrom('spans').select('name').where('trace_id', '=', traceId).where('parent_span_id', 'is', null).orderBy('start_ns').limit(1).executeTakeFirst();
  return row?.name ?? null;
}

/**
 * The trace's spans as token sums need them: this batch's, plus the stored others with their
 * ids and parents, reading (and parsing) the JSON only of spans that mention a token usage.
 */
export async function usageSpans(trx: Db, traceId: string, batch: readonly SpanRecord[]): Promise<UsageSpan[]> {
  const inBatch = new Set(batch.map((s) => s.spanId));
  const rows = await trx
    .selectFrom('spans')
    .select(['span_id', 'parent_span_id', sql<string | null>`CASE WHEN content LIKE ${`%"${SpanAttributeKey.TOKEN_USAGE}"%`} THEN content END`.as('content')])
    .where('trace_id', '=', traceId)
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

function spanRow(traceId: string, span: SpanRecord) {
  return {
    trace_id: traceId,
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
