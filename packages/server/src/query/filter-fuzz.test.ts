import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { compileFilter } from './filter-compiler.js';
import { parseFilter } from './filter-parser.js';
import { compileRlike, portableRegex, regexPatternProblem } from './regex-pattern.js';
import { findTraceIds } from './trace-search.js';
import { loadSearchFixture } from '../../test/support/search-fixture.js';
import { openSqlite, postgresOrSkip, type TestDatabase, type TestDatabaseFactory } from '../../test/support/query-databases.js';

/**
 * Property tests: thousands of random, grammar-built and mutated filters through parse, compile
 * and execute on SQLite (and fewer on PostgreSQL, whose typing is stricter). Each must end in a
 * result or a 400 ApiError, never another exception; values never reach the SQL text, and a
 * sentinel table survives every injection attempt.
 */

// Marks every injected value, so the compiled SQL text can be checked for it.
const MARK = 'XINJX';

const INJECTIONS = [
  `${MARK}'; DROP TABLE sentinel; --`,
  `${MARK}' OR '1'='1`,
  `${MARK}\\' OR 1=1 --`,
  `${MARK}"; DELETE FROM traces; --`,
  `${MARK}') OR ('a'='a`,
  `${MARK}%' UNION SELECT name FROM sqlite_master --`,
  `${MARK}\`); DROP TABLE sentinel; --`,
  `${MARK}\u0000\u2028`,
];

const FIELDS = [
  'status',
  'trace.status',
  'attributes.request_id',
  'trace.client_request_id',
  'timestamp',
  'trace.timestamp_ms',
  'execution_time',
  'trace.end_time_ms',
  'name',
  'run_id',
  'prompt',
  'trace.text',
  'tag.env',
  'tags.`my key`',
  'tag.`mlflow.traceName`',
  'metadata.`mlflow.trace.user`',
  'request_metadata.mlflow.trace.session',
  'metadata.version',
  'span.name',
  'span.type',
  'span.status',
  'span.content',
  'span.attributes.model',
  'span.attributes.`mlflow.llm.model`',
  'feedback.helpfulness',
  'feedback.`user satisfaction`',
  'expectation.output_format',
  'issue.id',
  'tag.name',
  'foo.bar',
  'span.duration',
  'tag.',
];

const OPERATORS = ['=', '!=', '<', '<=', '>', '>=', 'LIKE', 'ILIKE', 'RLIKE', 'like', 'IN', 'NOT IN', 'IS NULL', 'IS NOT NULL', '==', '<>'];

const quote = (value: string, q: "'" | '"') => `${q}${value.replaceAll(q, q + q)}${q}`;

const stringValue = fc.oneof(
  fc.constantFrom('OK', 'ERROR', 'production', 'gpt-4', '%gpt%', '^gpt', 'qa-agent-system-prompt/4', '5', '%%', '_', 'a(b', '\\', '(a+)+$', '[[:alpha:]]'),
  fc.constantFrom(...INJECTIONS),
  fc.string({ maxLength: 12 }),
);

const value = fc.oneof(
  stringValue.map((v) => quote(v, "'")),
  stringValue.map((v) => quote(v, '"')),
  fc.integer().map(String),
  fc.double({ noNaN: true }).map(String),
  fc.constantFrom('1e3', '-0', '1e999', 'OK', 'NULL', '`x`'),
);

const list = fc.array(fc.oneof(stringValue.map((v) => quote(v, "'")), fc.integer().map(String)), { maxLength: 4 }).map((items) => `(${items.join(', ')})`);

const clause = fc.tuple(fc.constantFrom(...FIELDS), fc.constantFrom(...OPERATORS), value, list).map(([field, operator, v, l]) => {
  if (operator === 'IS NULL' || operator === 'IS NOT NULL') return `${field} ${operator}`;
  if (operator === 'IN' || operator === 'NOT IN') return `${field} ${operator} ${l}`;
  return `${field} ${operator} ${v}`;
});

const { expression } = fc.letrec<{ expression: string }>((tie) => ({
  expression: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    clause,
    fc.tuple(tie('expression'), fc.constantFrom('AND', 'OR', 'and', 'or'), tie('expression')).map(([a, op, b]) => `${a} ${op} ${b}`),
    tie('expression').map((e) => `NOT ${e}`),
    tie('expression').map((e) => `(${e})`),
  ),
}));

/** A filter with a random edit: a character range deleted, a fragment inserted, or a piece repeated. */
const mutated = fc.tuple(expression, fc.nat(), fc.nat(), fc.constantFrom("'", '"', '`', '(', ')', ',', ';', '--', ' AND ', ' OR ', 'NOT ', '\\', '.', '=', ' IN ', '%', ...INJECTIONS), fc.nat(3)).map(
  ([text, a, b, fragment, kind]) => {
    const i = a % (text.length + 1);
    const j = Math.min(text.length, i + (b % 8));
    switch (kind) {
      case 0:
        return text.slice(0, i) + text.slice(j);
      case 1:
        return text.slice(0, i) + fragment + text.slice(i);
      case 2:
        return text.slice(0, j) + text.slice(i, j) + text.slice(j);
      default:
        return text.slice(0, i) + fragment + text.slice(j);
    }
  },
);

const noise = fc.string({ unit: fc.constantFrom(...`abtgs.=!<>()'"\`,;-%_\\ ANDORTILKEUsn019`.split('')), maxLength: 60 });

const orderBy = fc.option(
  fc.array(fc.constantFrom('timestamp DESC', 'execution_time', 'name', 'tag.env DESC', 'metadata.version', 'status', 'end_time', 'bogus', 'span.name', 'timestamp_ms ASC', 'tag.`a\u0000`'), { maxLength: 3 }),
  { nil: undefined },
);

// THREADLINE_FUZZ_SCALE=10 runs ten times as many cases, for a longer hunt.
const scale = Number(process.env.THREADLINE_FUZZ_SCALE) || 1;
const databases: Array<[string, TestDatabaseFactory | undefined, number]> = [
  ['sqlite', openSqlite, 3000 * scale],
  ['postgres', await postgresOrSkip(), 500 * scale],
];

for (const [name, open, numRuns] of databases) describe.skipIf(!open)(`filter fuzzing on ${name}`, () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await open!();
    await loadSearchFixture(database.db);
    await sql`CREATE TABLE sentinel (id integer PRIMARY KEY, note text NOT NULL)`.execute(database.db);
    await sql`INSERT INTO sentinel (id, note) VALUES (1, 'intact')`.execute(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  /** Parse, compile and run; a 400 is a fine outcome, anything else thrown fails the property. */
  async function runFilter(filter: string, order: string[] | undefined): Promise<void> {
    let tree;
    try {
      tree = parseFilter(filter);
    } catch (error) {
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(400);
      return;
    }
    if (tree) {
      const compiled = database.db.selectFrom('traces as t').select('t.trace_id').where(compileFilter(tree, database.dialect)).compile();
      expect(compiled.sql).not.toContain(MARK);
    }
    try {
      const page = await findTraceIds(database.db, database.dialect, { experimentIds: ['1', '2', '3'], filter, ...(order ? { orderBy: order } : {}), maxResults: 3 });
      expect(page.traceIds.length).toBeLessThanOrEqual(3);
      if (page.nextPageToken) {
        await findTraceIds(database.db, database.dialect, { experimentIds: ['1', '2', '3'], filter, ...(order ? { orderBy: order } : {}), maxResults: 3, pageToken: page.nextPageToken });
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      expect(error.status).toBe(400);
    }
  }

  it('grammar-built filters end in a result or a 400', async () => {
    await fc.assert(fc.asyncProperty(expression, orderBy, runFilter), { numRuns });
  }, 3_000_000);

  it('mutated filters end in a result or a 400', async () => {
    await fc.assert(fc.asyncProperty(mutated, orderBy, runFilter), { numRuns });
  }, 3_000_000);

  it('random character soup ends in a result or a 400', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(noise, fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })), orderBy, runFilter), { numRuns });
  }, 3_000_000);

  it('random regular expressions end in a result or a 400', async () => {
    const pattern = fc.string({ unit: fc.constantFrom(...'ab.^$*+?()[]{}|\\-:,=!<1dwsbxyu'.split('')), maxLength: 16 });
    await fc.assert(
      fc.asyncProperty(pattern, async (p) => {
        const problem = regexPatternProblem(p);
        // Accepted patterns are valid JavaScript too, whatever the flags, and compile on RE2.
        if (problem === undefined) {
          for (const flags of ['', 's', 'u', 'su']) new RegExp(p, flags);
          compileRlike(portableRegex(p));
        }
        await runFilter(`trace.name RLIKE '${p.replaceAll("'", "''")}' OR span.attributes.model RLIKE '${p.replaceAll("'", "''")}'`, undefined);
      }),
      { numRuns },
    );
  }, 3_000_000);

  it('leaves the database as it was', async () => {
    const sentinel = await sql<{ note: string }>`SELECT note FROM sentinel`.execute(database.db);
    expect(sentinel.rows).toEqual([{ note: 'intact' }]);
    const traces = await database.db.selectFrom('traces').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(traces.n)).toBe(10);
  });
});
