import { sql, type Kysely, type RawBuilder, type SqlBool, type Transaction } from 'kysely';
import type { FilterNode } from '../query/filter-ast.js';
import { parseTextQuery } from '../text-search/text-query.js';
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
 * Adds the words of a trace's newly stored spans, given in span id order, to the text index, in
 * the transaction that stores them (migration 010). Spans without text add nothing (undefined);
 * otherwise answers the document's id for `spans.text_doc`, null where spans keep none.
 */
export async function indexSpanText(trx: Db, dialect: SqlDialect, traceKey: number, spans: readonly SpanText[]): Promise<number | null | undefined> {
  const words = searchableWords(spans);
  if (words === '') return undefined;
  return dialect.traceText.insert(trx, traceKey, words);
}

/** Removes the traces' documents (by `trace_key`) from the text index, with the traces, before their spans (trace-writes.ts deleteTracesIn). */
export async function deleteTraceText(trx: Db, dialect: SqlDialect, traceKeys: readonly number[]): Promise<void> {
  for (let i = 0; i < traceKeys.length; i += ID_CHUNK) await dialect.traceText.delete(trx, traceKeys.slice(i, i + ID_CHUNK));
}

/**
 * A word search's terms as a search runs them: each with the ids of the traces it matches when
 * they are few (`traceIds`), or without them when a term matches more than
 * {@link FEW_MATCHES} documents. Which plan is fast depends on that number, and neither database
 * can know it before the query (SQLite keeps no statistics; PostgreSQL's estimate for a rare
 * word led it through every trace of the experiment, ~15 s at 1M traces): few matches are
 * looked up by id and sorted, many are found walking the traces in order, as they come often.
 */
export interface TextMatch {
  readonly term: TextTerm;
  readonly traceIds?: readonly string[];
}

/** Word searches by their text as written in the filter, resolved (`resolveTextMatches`). */
export type TextMatches = ReadonlyMap<string, readonly TextMatch[]>;

/** Up to this many matching documents, a term's traces are listed by id. */
export const FEW_MATCHES = 2_000;

/**
 * Resolves the word searches (`trace.text MATCH`) of a filter: one bounded lookup in the text
 * index per distinct term. Undefined when the filter has none.
 */
export async function resolveTextMatches(db: Kysely<Database>, dialect: SqlDialect, tree: FilterNode | undefined): Promise<TextMatches | undefined> {
  const queries = new Set<string>();
  const visit = (node: FilterNode): void => {
    if (node.kind === 'and' || node.kind === 'or') node.operands.forEach(visit);
    else if (node.kind === 'not') visit(node.operand);
    else if (node.kind === 'comparison' && node.field.kind === 'text' && node.operator === 'MATCH') queries.add(node.value.value as string);
  };
  if (tree) visit(tree);
  if (queries.size === 0) return undefined;
  const byTerm = new Map<string, Promise<TextMatch>>();
  const resolve = (term: TextTerm): Promise<TextMatch> => {
    const key = JSON.stringify(term);
    let found = byTerm.get(key);
    if (!found) {
      found = sql<{ trace_id: string }>`SELECT t.trace_id FROM ${dialect.traceText.matchingTraceKeys(term, FEW_MATCHES + 1)} AS m JOIN traces AS t ON t.trace_key = m.trace_key`
        .execute(db)
        .then(({ rows }) => (rows.length > FEW_MATCHES ? { term } : { term, traceIds: [...new Set(rows.map((r) => r.trace_id))].sort() }));
      byTerm.set(key, found);
    }
    return found;
  };
  const out = new Map<string, readonly TextMatch[]>();
  for (const query of queries) {
    const terms = parseTextQuery(query);
    if (typeof terms === 'string') throw new Error(`unchecked word search: ${terms}`);
    out.set(query, await Promise.all(terms.map(resolve)));
  }
  return out;
}

/**
 * The condition of one word search on the trace aliased `t`: the traces listed for its terms that
 * have them (their lists intersected), and for each term that matches many, a document of the
 * trace that matches it. Unresolved (`matches` undefined), each term's matching traces as a subquery.
 */
export function traceTextCondition(dialect: SqlDialect, terms: readonly TextTerm[], matches: readonly TextMatch[] | undefined): RawBuilder<SqlBool> {
  if (!matches) return joinAll(terms.map((term) => sql<SqlBool>`(t.trace_key IN ${dialect.traceText.matchingTraceKeys(term)})`));
  const conditions: RawBuilder<SqlBool>[] = [];
  const listed = intersectListed(matches);
  if (listed !== undefined) conditions.push(listed.length === 0 ? sql<SqlBool>`(1 = 0)` : sql<SqlBool>`(t.trace_id IN (${sql.join(listed)}))`);
  for (const { term, traceIds } of matches) {
    if (traceIds === undefined) conditions.push(sql<SqlBool>`EXISTS (SELECT 1 FROM trace_text_docs AS d WHERE d.trace_key = t.trace_key AND ${dialect.traceText.documentMatches(term)})`);
  }
  return joinAll(conditions);
}

/**
 * The only traces that can satisfy `nodes` joined by AND, as far as their word searches list
 * them (each listed term's traces, intersected), sorted; undefined when no word search among
 * them lists its traces. Such few traces can drive the query: trace search looks them up by id,
 * the session and user searches find the rows holding them first.
 */
export function listedTraceIds(nodes: readonly FilterNode[], matches: TextMatches | undefined): string[] | undefined {
  if (!matches) return undefined;
  const lists = nodes.flatMap((node) =>
    node.kind === 'comparison' && node.field.kind === 'text' && node.operator === 'MATCH' ? (matches.get(node.value.value as string) ?? []) : [],
  );
  return intersectListed(lists);
}

/** The traces every listed term matches, sorted; undefined when no term is listed. */
function intersectListed(matches: readonly TextMatch[]): string[] | undefined {
  let listed: string[] | undefined;
  for (const { traceIds } of matches) {
    if (traceIds === undefined) continue;
    const allowed = new Set(traceIds);
    listed = listed === undefined ? [...traceIds] : listed.filter((id) => allowed.has(id));
  }
  return listed;
}

function joinAll(conditions: readonly RawBuilder<SqlBool>[]): RawBuilder<SqlBool> {
  return conditions.length === 1 ? conditions[0]! : sql<SqlBool>`(${sql.join(conditions, sql` AND `)})`;
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
  const keys: number[] = [];
  for (const traceId of sorted) {
    const row = await lockTraceRow(trx, dialect, traceId);
    if (row) keys.push(Number(row.trace_key));
  }
  await deleteTraceText(trx, dialect, keys);
  let indexed = 0;
  for (let i = 0; i < keys.length; i += ID_CHUNK) {
    const rows = await trx
      .selectFrom('spans')
      .select(['trace_key', 'content'])
      .where('trace_key', 'in', keys.slice(i, i + ID_CHUNK))
      .orderBy('trace_key')
      .orderBy('span_id')
      .execute();
    const byTrace = new Map<number, SpanText[]>();
    for (const row of rows) {
      const span = { attributes: storedSpanAttributes(row.content) };
      const traceKey = Number(row.trace_key);
      const spans = byTrace.get(traceKey);
      if (spans) spans.push(span);
      else byTrace.set(traceKey, [span]);
    }
    for (const [traceKey, spans] of byTrace) {
      const documentId = await indexSpanText(trx, dialect, traceKey, spans);
      if (documentId === undefined) continue;
      indexed++;
      // The new document is of all the trace's spans.
      if (documentId !== null) await trx.updateTable('spans').set({ text_doc: documentId }).where('trace_key', '=', traceKey).execute();
    }
  }
  return indexed;
}
