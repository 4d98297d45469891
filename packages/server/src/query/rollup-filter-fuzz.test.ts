import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { recomputeRollups } from '../store/rollups.js';
import { parseFilter } from './filter-parser.js';
import { compileRollupFilter, rollupFieldResolver, type RollupSearchRequest } from './rollup-search.js';
import { findSessions, SESSION_LANGUAGE } from './session-search.js';
import { findUsers, USER_LANGUAGE } from './user-search.js';
import { loadSearchFixture } from '../../test/support/search-fixture.js';
import { openSqlite, postgresOrSkip, type TestDatabase, type TestDatabaseFactory } from '../../test/support/query-databases.js';
import { recountedRollups, storedRollups, type RollupSnapshot } from '../../test/support/rollup-recount.js';

/**
 * Property tests of the session and user languages, in the style of filter-fuzz.test.ts: random
 * grammar-built and mutated filters and orders run against rollups of the search fixture (made by
 * `recomputeRollups`, feedback rollups included). Each ends in a page or a 400 ApiError, never
 * another exception, and no value reaches the SQL text. Filters and orders over the feedback
 * rollups (`feedback.<name>.<stat>`) are also checked for their answer: every page, in order,
 * against the feedback the fixture's assessments add up to, recounted from scratch.
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
  // Feedback rollups of the session or user.
  'feedback.user_satisfaction.negative_share',
  'session.feedback.session_score.mean',
  'user.feedback.user_satisfaction.positive',
  'feedback.`user satisfaction`.count',
  'feedback.a.b.sum',
  `feedback.\`${MARK}' OR '1'='1\`.count`,
  'feedback.helpfulness.median',
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
/** Feedback the fixture has (some on traces, some on whole sessions), one with a quoted name, and one it lacks. */
const FEEDBACK_NAMES = ['user_satisfaction', 'session_score', 'helpfulness', 'correctness', 'user satisfaction', 'never_given'] as const;
const FEEDBACK_STATS = ['count', 'positive', 'negative', 'positive_share', 'negative_share', 'numeric_count', 'sum', 'mean'] as const;
type FeedbackStat = (typeof FEEDBACK_STATS)[number];
const feedbackField = (name: string, stat: FeedbackStat) => `feedback.${/^\w+$/.test(name) ? name : `\`${name}\``}.${stat}`;
const COMPARISONS = ['=', '!=', '<', '<=', '>', '>='] as const;
/** Counts, and the shares, sums and means the fixture has (0.5, 3.25, 4.75, 8 ...) and some it has not. */
const feedbackNumber = fc.oneof(fc.integer({ min: -1, max: 9 }), fc.constantFrom(0.25, 0.5, 0.75, 1.5, 2.25, 3.25, 4.75, 6.5));
const feedbackComparison = fc.record({ name: fc.constantFrom(...FEEDBACK_NAMES), stat: fc.constantFrom(...FEEDBACK_STATS), operator: fc.constantFrom(...COMPARISONS), value: feedbackNumber });
const typedClause = fc.oneof(
  fc.tuple(fc.constantFrom(...NUMBER_FIELDS), fc.constantFrom(...COMPARISONS), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer())).map(([f, op, n]) => `${f} ${op} ${n}`),
  feedbackComparison.map(({ name, stat, operator, value }) => `${feedbackField(name, stat)} ${operator} ${value}`),
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
/** A filter of feedback comparisons only, kept as a tree so that the oracle can say what it means. */
type FeedbackFilter =
  | { kind: 'comparison'; name: string; stat: FeedbackStat; operator: (typeof COMPARISONS)[number]; value: number }
  | { kind: 'and' | 'or'; left: FeedbackFilter; right: FeedbackFilter }
  | { kind: 'not'; operand: FeedbackFilter };

const { feedbackFilter } = fc.letrec<{ feedbackFilter: FeedbackFilter }>((tie) => ({
  feedbackFilter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    feedbackComparison.map((c): FeedbackFilter => ({ kind: 'comparison', ...c })),
    fc.tuple(fc.constantFrom('and' as const, 'or' as const), tie('feedbackFilter'), tie('feedbackFilter')).map(([kind, left, right]): FeedbackFilter => ({ kind, left, right })),
    tie('feedbackFilter').map((operand): FeedbackFilter => ({ kind: 'not', operand })),
  ),
}));

function filterText(f: FeedbackFilter): string {
  switch (f.kind) {
    case 'comparison':
      return `${feedbackField(f.name, f.stat)} ${f.operator} ${f.value}`;
    case 'not':
      return `NOT (${filterText(f.operand)})`;
    default:
      return `(${filterText(f.left)}) ${f.kind.toUpperCase()} (${filterText(f.right)})`;
  }
}

/**
 * A feedback statistic of one session or user as the recount adds it up: 0 where it has no
 * feedback of that name, null for a share or a mean of nothing.
 */
function recountedStat(recount: RollupSnapshot, scope: 'session' | 'user', key: string, name: string, stat: FeedbackStat): number | null {
  const row = recount.feedback.find((r) => r.scope === scope && r.key === key && r.name === name);
  const n = (column: string) => Number(row?.[column] ?? 0);
  const ratio = (part: string, whole: string) => (n(whole) > 0 ? n(part) / n(whole) : null);
  switch (stat) {
    case 'count':
    case 'numeric_count':
      return n(stat);
    case 'positive':
      return n('true_count');
    case 'negative':
      return n('false_count');
    case 'sum':
      return n('numeric_sum');
    case 'mean':
      return ratio('numeric_sum', 'numeric_count');
    case 'positive_share':
      return ratio('true_count', 'count');
    case 'negative_share':
      return ratio('false_count', 'count');
  }
}

/** Whether `f` holds where `stat` gives the statistics: a comparison with null (nothing to compare) never does. */
function holds(f: FeedbackFilter, stat: (name: string, stat: FeedbackStat) => number | null): boolean {
  switch (f.kind) {
    case 'and':
      return holds(f.left, stat) && holds(f.right, stat);
    case 'or':
      return holds(f.left, stat) || holds(f.right, stat);
    case 'not':
      return !holds(f.operand, stat);
    case 'comparison': {
      const v = stat(f.name, f.stat);
      if (v === null) return false;
      const compared = { '=': v === f.value, '!=': v !== f.value, '<': v < f.value, '<=': v <= f.value, '>': v > f.value, '>=': v >= f.value };
      return compared[f.operator];
    }
  }
}

const mutated = fc.tuple(expression, fc.nat(), fc.nat(), fc.constantFrom("'", '(', ')', ' AND ', 'NOT ', '.', '`', ...INJECTIONS)).map(([text, a, b, fragment]) => {
  const i = a % (text.length + 1);
  return text.slice(0, i) + fragment + text.slice(Math.min(text.length, i + (b % 6)));
});
const orderBy = fc.option(
  fc.array(
    fc.constantFrom(
      ...['last_time', 'turns DESC', 'traces DESC', 'sessions', 'session_id ASC', 'user_id DESC', 'duration_ms', 'errors', 'bogus', 'user', 'session.turns', 'timestamp_ms', 'turns sideways'],
      ...['feedback.user_satisfaction.negative_share DESC', 'feedback.helpfulness.mean', 'user.feedback.session_score.sum DESC', 'session.feedback.correctness.positive', 'feedback.helpfulness.bogus'],
    ),
    { maxLength: 3 },
  ),
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

  it('the fixture has sessions and users to search, with the feedback its assessments add up to', async () => {
    const sessions = await database.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(sessions.n)).toBeGreaterThan(0);
    const stored = await storedRollups(database.db, 3);
    const recount = await recountedRollups(database.db, 3);
    // Hours are not rebuilt by recomputeRollups; sessions, users and their feedback are.
    const withoutHours = ({ sessions, users, sessionUsers, feedback }: RollupSnapshot) => ({ sessions, users, sessionUsers, feedback: feedback.filter((r) => r.scope !== 'hour') });
    expect(withoutHours(stored)).toEqual(withoutHours(recount));
    const stat = (scope: 'session' | 'user', key: string, name: string, s: FeedbackStat) => recountedStat(stored, scope, key, name, s);
    // Trace true and " Yes" (the "no" it overrides not counted), the session's own false.
    expect(['count', 'positive', 'negative'].map((s) => stat('session', 'session-abc-456', 'user_satisfaction', s as FeedbackStat))).toEqual([3, 2, 1]);
    // user-123's sessions' own scores, 2 and 4.5.
    expect(stat('user', 'user-123', 'session_score', 'mean')).toBe(3.25);
  });

  it('feedback filters and orders answer what the assessments add up to, page after page', async () => {
    const recount = await recountedRollups(database.db, 3);
    const searches = [
      {
        scope: 'session' as const,
        ids: recount.sessions.map((r) => String(r.session_id)),
        page: async (request: RollupSearchRequest) => {
          const page = await findSessions(database.db, database.dialect, request);
          return { ids: page.sessions.map((r) => r.sessionId), next: page.nextPageToken };
        },
      },
      {
        scope: 'user' as const,
        ids: recount.users.map((r) => String(r.user_id)),
        page: async (request: RollupSearchRequest) => {
          const page = await findUsers(database.db, database.dialect, request);
          return { ids: page.users.map((r) => r.userId), next: page.nextPageToken };
        },
      },
    ];
    const order = fc.record({ name: fc.constantFrom(...FEEDBACK_NAMES), stat: fc.constantFrom(...FEEDBACK_STATS), direction: fc.constantFrom('ASC', 'DESC') });
    await fc.assert(
      fc.asyncProperty(feedbackFilter, order, async (filter, by) => {
        for (const { scope, ids, page } of searches) {
          const stat = (id: string) => (name: string, s: FeedbackStat) => recountedStat(recount, scope, id, name, s);
          const found: string[] = [];
          let pageToken: string | undefined;
          do {
            // One a page, so that every page token carries a feedback sort value.
            const request = { experimentId: '3', filter: filterText(filter), orderBy: [`${feedbackField(by.name, by.stat)} ${by.direction}`], maxResults: 1 };
            const { ids: onPage, next } = await page(pageToken ? { ...request, pageToken } : request);
            found.push(...onPage);
            pageToken = next;
          } while (pageToken);
          expect([...found].sort(), `${scope}: ${filterText(filter)}`).toEqual(ids.filter((id) => holds(filter, stat(id))).sort());
          const sortValues = found.map((id) => stat(id)(by.name, by.stat));
          for (let i = 1; i < sortValues.length; i++) {
            const [a, b] = [sortValues[i - 1]!, sortValues[i]!];
            // Nulls (a share or mean of nothing) last, whichever the direction.
            if (a === null) expect(b).toBeNull();
            else if (b !== null) expect(by.direction === 'ASC' ? a <= b : a >= b, `${scope} ordered by ${by.name}.${by.stat} ${by.direction}: ${sortValues.join(', ')}`).toBe(true);
          }
        }
      }),
      { numRuns: Math.ceil(numRuns / 3) },
    );
  }, 3_000_000);

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
