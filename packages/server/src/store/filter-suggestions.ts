import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Keys are read from this many of an experiment's newest traces: enough to know its keys, bounded at any size. */
export const KEY_SAMPLE_TRACES = 1_000;
/** Keys answered per kind, at most. */
export const MAX_SUGGESTED_KEYS = 500;
/** User or session ids answered per request, at most. */
export const MAX_SUGGESTED_VALUES = 20;

/**
 * The last code point there is: a string that begins with a prefix sorts below the prefix followed
 * by it, in the byte order of UTF-8 that SQLite compares text in (and PostgreSQL in a C collation).
 */
const LAST_CODE_POINT = '\u{10FFFF}';

/**
 * What a filter box offers while a filter is typed (http/filter-suggestions.ts): the tag and
 * metadata keys in use, and the experiment's user and session ids. Every read is served by an
 * index and bounded, whatever the number of traces.
 */
export class FilterSuggestions {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * The tag and metadata keys of the experiment's {@link KEY_SAMPLE_TRACES} newest traces, sorted:
   * the newest traces through `traces_exp_time`, their keys through the primary keys of
   * `trace_tags` and `trace_metadata`. A key only older traces have is not offered (it can still
   * be typed).
   */
  async keys(experimentId: string): Promise<{ tagKeys: string[]; metadataKeys: string[] }> {
    const newest = this.db
      .selectFrom('traces')
      .select('trace_key')
      .where('experiment_id', '=', Number(experimentId))
      .orderBy('request_time', 'desc')
      .limit(KEY_SAMPLE_TRACES);
    const keysOf = async (table: 'trace_tags' | 'trace_metadata') =>
      (await this.db.selectFrom(table).select('key').distinct().where('trace_key', 'in', newest).orderBy('key').limit(MAX_SUGGESTED_KEYS).execute()).map((r) => r.key);
    return { tagKeys: await keysOf('trace_tags'), metadataKeys: await keysOf('trace_metadata') };
  }

  /**
   * Up to {@link MAX_SUGGESTED_VALUES} user or session ids of the experiment that begin with
   * `prefix`, in the order of their ids: a range on the rollup's primary key (`experiment_id`,
   * id). Without a prefix, the most recently active ones (the `*_exp_last_time` index).
   */
  async values(experimentId: string, of: 'user' | 'session', prefix: string): Promise<string[]> {
    const table = sql.table(of === 'user' ? 'users' : 'sessions');
    const id = sql.ref(of === 'user' ? 'user_id' : 'session_id');
    const experiment = Number(experimentId);
    // The range is what the index serves; the `substr` test keeps the answer exact under any
    // collation, where a code point past the last might not sort last.
    const query =
      prefix === ''
        ? sql<{ id: string }>`SELECT ${id} AS id FROM ${table} WHERE experiment_id = ${experiment} ORDER BY last_time DESC LIMIT ${MAX_SUGGESTED_VALUES}`
        : sql<{ id: string }>`SELECT ${id} AS id FROM ${table}
            WHERE experiment_id = ${experiment} AND ${id} >= ${prefix} AND ${id} < ${prefix + LAST_CODE_POINT} AND substr(${id}, 1, ${[...prefix].length}) = ${prefix}
            ORDER BY ${id} LIMIT ${MAX_SUGGESTED_VALUES}`;
    return (await query.execute(this.db)).rows.map((r) => r.id);
  }
}
