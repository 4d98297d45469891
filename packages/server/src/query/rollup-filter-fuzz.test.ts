import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { recomputeRollups } from '../store/rollups.js';
import { parseFilter } from './filter-parser.js';
import { compileRollupFilter, rollupFieldResolver } from './rollup-search.js';
import { findSessions, SESSION_LANGUAGE } from './session-search.js';
import { findUsers, USER_LANGUAGE } from './user-search.js';
import { loadSearchFixture } from '../../test/support/search-fixture.js';
import { openSqlite, postgresOrSkip, type TestDatabase, type TestDatabaseFactory } from '../../test/support/query-databases.js';

/**
 * Property tests of the session and user languages, in the style of filter-fuzz.test.ts: random
 * grammar-built and mutated filters and orders run against rollups of the search fixture. Each
 * ends in a page or a 400 ApiError, never another exception, and no value reaches the SQL text.
 */

const MARK = 'XINJX';
const INJECTIONS = [`${MARK}'; DROP TABLE sentinel; --`, `${MARK}' OR '1'='1`, `${MARK}\\' OR 1=1 --`, `${MARK}") OR ("a"="a`, `${MARK}\u0000`];

const FIELDS = [
  // Session language.
  'session_id',
  'session.session_id',
  'user',
  'turns',
  'session.turns',
  'users',
  'first_time',
  'last_time_ms',
  'duration_ms',
  'errors',
  'total_tokens',
  // User language.
  'user_id',
  'user.user_id',
  'traces',
  'sessions',
  'user.errors',
  // Trace clauses, meaning "some trace matches".
  'trace.status',
  'status',
  'timestamp_ms',
  'tag.env',
  'metadata.`mlflow.trace.user`',
  'span.type',
  'span.name',
  'span.attributes.model',
  'feedback.helpfulness',
  // Wrong ones.
  'session.bogus',
  'user.turns',
  'sesion.turns',
  'tag.',
  'bogus',
];
const OPERATORS = ['=', '!=', '<', '<=', '>', '>=', 'LIKE', 'ILIKE', 'RLIKE', 'IN', 'NOT IN', 'IS NULL', 'IS NOT NULL', '=='];
const quote = (v: string) => `'${v.replaceAll("'", "''")}'`;
const stringValue = fc.oneof(fc.constantFrom('OK', 'ERROR', 'u-1', 'session-1', '%s%', '^s', '3', '(a+)+$', '_'), fc.constantFrom(...INJECTIONS), fc.string({ maxLength: 10 }));
const value = fc.oneof(stringValue.map(quote), fc.integer().map(String), fc.double({ noNaN: true }).map(String), fc.constantFrom('1e999', '-0', 'NULL', 'x'));
const list = fc.array(fc.oneof(stringValue.map(quote), fc.integer().map(String)), { maxLength: 3 }).map((items) => `(${items.join(', ')})`);
const clause = fc.tuple(fc.constantFrom(...FIELDS), fc.constantFrom(...OPERATORS), value, list).map(([field, operator, v, l]) => {
  if (operator.startsWith('IS')) return `${field} ${operator}`;
  if (operator.endsWith('IN')) return `${field} ${operator} ${l}`;
  return `${field} ${operator} ${v}`;
});
/** Clauses that fit their field, so that most filters reach the database rather than the parser's 400. */
const NUMBER_FIELDS = ['turns', 'users', 'first_time', 'duration_ms', 'errors', 'total_tokens', 'traces', 'sessions', 'user.errors', 'timestamp_ms'];
const STRING_FIELDS = ['session_id', 'user', 'user_id', 'trace.status', 'tag.env', 'metadata.`mlflow.trace.user`', 'span.type', 'span.attributes.model'];
const typedClause = fc.oneof(
  fc.tuple(fc.constantFrom(...NUMBER_FIELDS), fc.constantFrom('=', '!=', '<', '<=', '>', '>='), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer())).map(([f, op, n]) => `${f} ${op} ${n}`),
  fc.tuple(fc.constantFrom(...STRING_FIELDS), fc.constantFrom('=', '!=', 'LIKE', 'ILIKE', 'RLIKE'), stringValue).map(([f, op, v]) => `${f} ${op} ${quote(v)}`),
  fc.tuple(fc.constantFrom(...STRING_FIELDS), fc.constantFrom('IN', 'NOT IN'), fc.array(stringValue, { minLength: 1, maxLength: 3 })).map(([f, op, vs]) => `${f} ${op} (${vs.map(quote).join(', ')})`),
);

const { expression } = fc.letrec<{ expression: string }>((tie) => ({
  expression: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof({ arbitrary: typedClause, weight: 4 }, { arbitrary: clause, weight: 1 }),
    fc.tuple(tie('expression'), fc.constantFrom('AND', 'OR'), tie('expression')).map(([a, op, b]) => `${a} ${op} ${b}`),
    tie('expression').map((e) => `NOT ${e}`),
    tie('expression').map((e) => `(${e})`),
  ),
}));
const mutated = fc.tuple(expression, fc.nat(), fc.nat(), fc.constantFrom("'", '(', ')', ' AND ', 'NOT ', '.', '`', ...INJECTIONS)).map(([text, a, b, fragment]) => {
  const i = a % (text.length + 1);
  return text.slice(0, i) + fragment + text.slice(Math.min(text.length, i + (b % 6)));
});
const orderBy = fc.option(
  fc.array(fc.constantFrom('last_time', 'turns DESC', 'traces DESC', 'sessions', 'session_id ASC', 'user_id DESC', 'duration_ms', 'errors', 'bogus', 'user', 'session.turns', 'timestamp_ms', 'turns sideways'), { maxLength: 3 }),
  { nil: undefined },
);

const scale = Number(process.env.THREADLINE_FUZZ_SCALE) || 1;
const databases: Array<[string, TestDatabaseFactory | undefined, number]> = [
  ['sqlite', openSqlite, 1500 * scale],
  ['postgres', await postgresOrSkip(), 300 * scale],
];

for (const [name, open, numRuns] of databases) describe.skipIf(!open)(`session and user filter fuzzing on ${name}`, () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await open!();
    await loadSearchFixture(database.db);
    for (const experimentId of [1, 2, 3]) {
      const rows = await database.db.selectFrom('traces').select(['session_id', 'user_id']).where('experiment_id', '=', experimentId).execute();
      await recomputeRollups(database.db, experimentId, rows.flatMap((r) => r.session_id ?? []), rows.flatMap((r) => r.user_id ?? []));
    }
    await sql`CREATE TABLE sentinel (id integer PRIMARY KEY, note text NOT NULL)`.execute(database.db);
    await sql`INSERT INTO sentinel (id, note) VALUES (1, 'intact')`.execute(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const outcomes = { page: 0, refused: 0 };

  async function expect400(run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
      outcomes.page++;
    } catch (error) {
      outcomes.refused++;
      if (!(error instanceof ApiError)) throw error;
      expect(error.status).toBe(400);
    }
  }

  /** Both languages, first page and the next; a 400 is a fine outcome, anything else thrown fails. */
  async function runFilter(filter: string, order: string[] | undefined): Promise<void> {
    for (const language of [SESSION_LANGUAGE, USER_LANGUAGE]) {
      let tree;
      try {
        tree = parseFilter(filter, rollupFieldResolver(language));
      } catch {
        continue;
      }
      if (!tree) continue;
      // Only the SQL text is looked at: either table's query builder serves.
      const table = (language === SESSION_LANGUAGE ? 'sessions as r' : 'users as r') as 'sessions as r';
      const compiled = database.db.selectFrom(table).selectAll().where(compileRollupFilter(tree, language, database.dialect)).compile();
      expect(compiled.sql).not.toContain(MARK);
    }
    for (const experimentId of ['3', '1']) {
      const request = { experimentId, filter, ...(order ? { orderBy: order } : {}), maxResults: 1 };
      await expect400(async () => {
        const page = await findSessions(database.db, database.dialect, request);
        expect(page.sessions.length).toBeLessThanOrEqual(1);
        if (page.nextPageToken) await findSessions(database.db, database.dialect, { ...request, pageToken: page.nextPageToken });
      });
      await expect400(async () => {
        const page = await findUsers(database.db, database.dialect, request);
        if (page.nextPageToken) await findUsers(database.db, database.dialect, { ...request, pageToken: page.nextPageToken });
      });
    }
  }

  it('the fixture has sessions and users to search', async () => {
    const sessions = await database.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(sessions.n)).toBeGreaterThan(0);
  });

  it('grammar-built filters end in a page or a 400', async () => {
    await fc.assert(fc.asyncProperty(expression, orderBy, runFilter), { numRuns });
    // The generator must reach the SQL often enough for the property to mean something.
    expect(outcomes.page).toBeGreaterThan(numRuns / 2);
  }, 3_000_000);

  it('mutated filters end in a page or a 400', async () => {
    await fc.assert(fc.asyncProperty(mutated, orderBy, runFilter), { numRuns });
  }, 3_000_000);

  it('random character soup ends in a page or a 400', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })), orderBy, runFilter), { numRuns });
  }, 3_000_000);

  it('leaves the database as it was', async () => {
    const sentinel = await sql<{ note: string }>`SELECT note FROM sentinel`.execute(database.db);
    expect(sentinel.rows).toEqual([{ note: 'intact' }]);
  });
});
