/**
 * RLIKE means the same on both stores: every pattern the validator accepts gives the same answer
 * on RE2 (SQLite's `regexp` function, through the real store connection) as on PostgreSQL's `~`,
 * over strings chosen where the engines could differ (newlines, \v, Unicode letters and spaces,
 * astral characters, brackets).
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite, postgresOrSkip, type TestDatabase } from '../../test/support/query-databases.js';
import { compileRlike, portableRegex, regexPatternProblem } from './regex-pattern.js';

const SAMPLES = ['', 'a', 'ab', 'aab', 'ba', 'a\nb', 'é', 'aé', 'x\u000by', 'x\u2003y', 'x y', 'Ⅻ', '٣', '😀', 'a😀b', 'a1_', 'A-Z', '[a]', 'a.b', 'abab', '\tb\r', 'ü9'];

/** Pattern pieces: each is valid alone or as a prefix; the validator sorts out the rest. */
const PIECES = ['a', 'b', 'é', '😀', '.', '^', '$', '|', '*', '+', '?', '*?', '(', '(?:', ')', '[ab]', '[^a]', '[a-z]', '[\\d\\s]', '[é-ü]', '\\d', '\\w', '\\s', '\\D', '\\W', '\\S', '\\v', '\\n', '\\t', '\\.', '\\-', '{2}', '{1,3}', '{0,}', '\\u00e9', '\\u2003', '\\ud83d\\ude00', '-', '1', '_'];
const pattern = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 8 }).map((pieces) => pieces.join(''));

const postgres = await postgresOrSkip();

describe.skipIf(!postgres)('RLIKE on RE2 (SQLite) and on PostgreSQL', () => {
  let sqlite: TestDatabase;
  let pg: TestDatabase;

  beforeAll(async () => {
    [sqlite, pg] = await Promise.all([openSqlite(), postgres!()]);
  });
  afterAll(async () => {
    await Promise.all([sqlite?.close(), pg?.close()]);
  });

  /** Which of SAMPLES the database's regex match accepts, in order. */
  async function matches(database: TestDatabase, portable: string): Promise<boolean[]> {
    const values = sql.join(
      SAMPLES.map((s, i) => sql`SELECT ${sql.lit(i)} AS i, CAST(${s} AS TEXT) AS s`),
      sql` UNION ALL `,
    );
    const match = database.dialect.regexMatch(sql.ref('v.s'), sql.val(portable));
    const { rows } = await sql<{ m: number }>`SELECT CASE WHEN ${match} THEN 1 ELSE 0 END AS m FROM (${values}) AS v ORDER BY v.i`.execute(database.db);
    return rows.map((r) => Number(r.m) === 1);
  }

  it('gives the same answer for every accepted pattern', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(pattern, async (p) => {
        if (regexPatternProblem(p) !== undefined) return;
        accepted++;
        const portable = portableRegex(p);
        const [onSqlite, onPostgres] = await Promise.all([matches(sqlite, portable), matches(pg, portable)]);
        expect(onSqlite, `pattern ${JSON.stringify(p)} (portable ${JSON.stringify(portable)})`).toEqual(onPostgres);
        // The store's function is RE2 itself.
        expect(onSqlite).toEqual(SAMPLES.map((s) => compileRlike(portable).test(s)));
      }),
      { numRuns: 400 },
    );
    expect(accepted).toBeGreaterThan(50);
  }, 120_000);

  it.each([
    ['\\w', ['a', 'ab', 'aab', 'ba', 'a\nb', 'aé', 'a1_', 'A-Z', '[a]', 'a.b', 'abab', '\tb\r', 'ü9', 'x\u000by', 'x\u2003y', 'x y', 'a😀b']],
    ['^\\s$', []],
    ['x\\sy', ['x\u000by', 'x y']],
    ['^.$', ['a', 'é', 'Ⅻ', '٣', '😀']],
    ['a.b', ['aab', 'a\nb', 'a.b', 'a😀b']],
  ])('%j means the ASCII class on both stores, whatever the locale', async (p, expected) => {
    const portable = portableRegex(p);
    const want = SAMPLES.map((s) => expected.includes(s));
    expect(await matches(sqlite, portable)).toEqual(want);
    expect(await matches(pg, portable)).toEqual(want);
  });
});
