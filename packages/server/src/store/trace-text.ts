import { sql, type Kysely, type Transaction } from 'kysely';
import { searchableWords, type SpanText } from '../text-search/span-text.js';
import type { TextTerm } from '../text-search/text-query.js';
import type { Database } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';
import { storedSpanAttributes } from './spans.js';
import type { TransactionRunner } from './group-commit.js';
import { forEachTraceBatch, type TraceRange } from './trace-ranges.js';
import { lockTraceRow } from './trace-rows.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Trace ids per delete statement, well under every database's bound-parameter limit. */
const ID_CHUNK = 500;

/**
 * Adds the words of a trace's newly stored spans to the text index, in the transaction that
 * stores them (migration 010). Spans without text add nothing; answers whether they had some.
 */
export async function indexSpanText(trx: Db, dialect: SqlDialect, traceId: string, spans: readonly SpanText[]): Promise<boolean> {
  const words = searchableWords(spans);
  if (words === '') return false;
  for (const statement of dialect.traceText.insert(traceId, words)) await statement.execute(trx);
  return true;
}

/** Removes the traces' documents from the text index, with the traces (trace-writes.ts deleteTracesIn). */
export async function deleteTraceText(trx: Db, dialect: SqlDialect, traceIds: readonly string[]): Promise<void> {
  for (let i = 0; i < traceIds.length; i += ID_CHUNK) {
    for (const statement of dialect.traceText.delete(traceIds.slice(i, i + ID_CHUNK))) await statement.execute(trx);
  }
}

/** `trace_id IN (traces with a document matching the term)`, for the filter compiler. */
export function traceTextMatches(dialect: SqlDialect, traceId: ReturnType<typeof sql.ref>, term: TextTerm) {
  return sql<boolean>`(${traceId} IN ${dialect.traceText.matchingTraceIds(term)})`;
}

/**
 * Indexing stored traces again (`threadline reindex-text`): traces stored before the index
 * existed (migration 010), or after the words were read differently.
 */
export class TextIndex {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialect,
    private readonly transactions: TransactionRunner,
  ) {}

  /** Answers how many traces of the range have text in the index now. */
  reindex(range: TraceRange): Promise<number> {
    return forEachTraceBatch(this.db, range, (traceIds) => this.transactions.run((trx) => reindexTraceText(trx, this.dialect, traceIds)));
  }
}

/**
 * Replaces the documents of these traces by one each, read from their stored spans. Their rows
 * are locked first (step 1 of the lock order), so that spans stored meanwhile are neither lost
 * from the index nor indexed twice.
 */
async function reindexTraceText(trx: Db, dialect: SqlDialect, traceIds: readonly string[]): Promise<number> {
  const sorted = [...traceIds].sort();
  for (const traceId of sorted) await lockTraceRow(trx, dialect, traceId);
  await deleteTraceText(trx, dialect, sorted);
  let indexed = 0;
  for (let i = 0; i < sorted.length; i += ID_CHUNK) {
    const rows = await trx
      .selectFrom('spans')
      .select(['trace_id', 'content'])
      .where('trace_id', 'in', sorted.slice(i, i + ID_CHUNK))
      .orderBy('trace_id')
      .orderBy('start_ns')
      .execute();
    const byTrace = new Map<string, SpanText[]>();
    for (const row of rows) {
      const span = { attributes: storedSpanAttributes(row.content) };
      const list = byTrace.get(row.trace_id);
      if (list) list.push(span);
      else byTrace.set(row.trace_id, [span]);
    }
    for (const [traceId, spans] of byTrace) if (await indexSpanText(trx, dialect, traceId, spans)) indexed++;
  }
  return indexed;
}
