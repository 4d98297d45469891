import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { findTraceIds, type TraceSearchRequest } from './trace-search.js';
import { E, loadSearchFixture } from '../../test/support/search-fixture.js';
import { openSqlite, postgresOrSkip, type TestDatabase, type TestDatabaseFactory } from '../../test/support/query-databases.js';

// Reference §16.1: experiments 1 and 2 hold MLflow's five traces; experiment 3 the richer ones.
const F = ['1', '2'];
const X = ['3'];
const { T1, T2, T3, T4, T5 } = E;

interface Case {
  filter: string;
  expected: string[];
  experiments?: string[];
  orderBy?: string[];
}

/** Reference §16.2 on fixture [F], with the listed results. */
const FIXTURE_FILTERS: Case[] = [
  { filter: "name = 'aaa'", expected: ['tr-1'] },
  { filter: "name != 'aaa'", expected: ['tr-4', 'tr-3', 'tr-2', 'tr-0'] },
  { filter: "status = 'OK'", expected: ['tr-4', 'tr-3', 'tr-0'] },
  { filter: "status != 'OK'", expected: ['tr-2', 'tr-1'] },
  { filter: "attributes.status = 'OK'", expected: ['tr-4', 'tr-3', 'tr-0'] },
  { filter: "trace.name != 'aaa'", expected: ['tr-4', 'tr-3', 'tr-2', 'tr-0'] },
  { filter: '`timestamp` >= 1 AND execution_time < 10', expected: ['tr-2', 'tr-1'] },
  { filter: "tag.fruit = 'apple'", expected: ['tr-2', 'tr-1'] },
  // A single-quoted key, as MLflow reads it (issue 12).
  { filter: "tags.'fruit' = 'apple'", expected: ['tr-2', 'tr-1'] },
  { filter: "tags.fruit = 'apple' and tags.color != 'red'", expected: ['tr-2'] },
  { filter: "run_id = 'run0'", expected: ['tr-0'] },
  { filter: "request_metadata.`mlflow.sourceRun` = 'run0'", expected: ['tr-0'] },
  { filter: "metadata.mlflow.sourceRun != 'run0'", expected: ['tr-1'] },
];

/** Reference §16.2 #13-#55, on experiment 3 (the reference gives meanings, not fixture results). */
const RICH_FILTERS: Case[] = [
  { filter: "trace.status IN ('OK', 'ERROR')", expected: [T4, T3, T2, T1] },
  { filter: "trace.status NOT IN ('OK')", expected: [T2, T5] },
  { filter: "trace.status ILIKE 'error'", expected: [T2] },
  { filter: 'trace.timestamp_ms > 1700000000000 AND trace.timestamp_ms < 1763013695531', expected: [T3, T2, T1, T5] },
  { filter: 'trace.execution_time_ms >= 500 AND trace.execution_time_ms <= 2000', expected: [T3, T2, T1] },
  { filter: 'trace.end_time_ms > 1762408895531', expected: [T4] },
  { filter: "trace.name LIKE 'Generate%'", expected: [T1] },
  { filter: "trace.name ILIKE '%_log%'", expected: [T3, T2] },
  { filter: "trace.name RLIKE '^(predict|inference)_[0-9]+'", expected: [T4] },
  // Nested repeats: exponential for a backtracking engine, linear on RE2 and PostgreSQL's.
  { filter: "trace.name RLIKE '^((predict|inference)(_\\d+)+)+$'", expected: [T4] },
  { filter: "span.name RLIKE '^llm\\.\\w+$' AND span.name RLIKE '\\u0063hat'", expected: [T4] },
  { filter: "trace.client_request_id ILIKE '%ABC%'", expected: [T2, T1] },
  { filter: "trace.request_id = 'tr-0123456789abcdef0123456789abcdef'", expected: [T1] },
  { filter: 'prompt = "qa-agent-system-prompt/4"', expected: [T3, T1] },
  { filter: "trace.text ILIKE '%authentication error%'", expected: [T2] },
  { filter: "span.name = 'search_web' AND span.status = 'OK'", expected: [T2] },
  { filter: "span.type IN ('LLM', 'RETRIEVER')", expected: [T2, T1] },
  { filter: "span.type NOT IN ('LLM', 'RETRIEVER')", expected: [T4, T3] },
  { filter: "span.name RLIKE '^llm\\.'", expected: [T4, T2] },
  { filter: "span.content ILIKE '%MACHINE LEARNING%'", expected: [T3] },
  { filter: "span.attributes.model LIKE '%gpt-4%'", expected: [T4, T1] },
  { filter: "span.attributes.`mlflow.llm.model` LIKE '%gpt%'", expected: [T2, T1] },
  { filter: "span.attributes.model RLIKE '^gpt'", expected: [T4, T1] },
  { filter: "tag.environment RLIKE 'us-(east|west)-[0-9]'", expected: [T3, T1] },
  { filter: "tag.`mlflow.traceName` = 'my_function'", expected: [T5] },
  { filter: `tag."my key" = 'x'`, expected: [T1] },
  { filter: "tag.`my-key` = 'x'", expected: [T2] },
  { filter: 'tag.env IS NULL', expected: [T4, T5] },
  { filter: "tag.region IS NOT NULL AND tag.env = 'production'", expected: [T1] },
  { filter: "metadata.`mlflow.trace.user` = 'user-123' AND metadata.`mlflow.trace.session` = 'session-abc-456'", expected: [T1] },
  { filter: "request_metadata.mlflow.trace.session ILIKE '%abc%'", expected: [T2, T1] },
  { filter: `request_metadata."mlflow.trace.user" = 'alice'`, expected: [T4, T2] },
  { filter: 'metadata.`mlflow.trace.session` IS NOT NULL', expected: [T3, T2, T1] },
  { filter: "metadata.version RLIKE 'v2\\.[0-9]'", expected: [T1] },
  { filter: "feedback.correctness = 'true'", expected: [T1] },
  { filter: "feedback.helpfulness = '5'", expected: [T4, T1] },
  { filter: "feedback.comment LIKE '%helpful%'", expected: [T3, T1] },
  { filter: "feedback.quality IS NOT NULL AND feedback.quality = 'good'", expected: [T1] },
  { filter: "feedback.session_quality = 'good'", expected: [T2, T1] },
  { filter: "expectation.output_format ILIKE '%xml%'", expected: [T4] },
  { filter: "feedback.`user satisfaction` = 'yes'", expected: [T1] },
  { filter: "issue.id = 'iss-123'", expected: [T3] },
  { filter: 'trace.status = "OK"', expected: [T4, T3, T1] },
  { filter: "trace.status like 'OK'", expected: [T4, T3, T1] },
  { filter: 'tag.env is not null', expected: [T3, T2, T1] },
  { filter: 'trace.execution_time_ms > 1e3', expected: [T4, T3] },
];

/** Reference §18: verdicts that change relative to MLflow, and the decided points. */
const DECISIONS: Case[] = [
  // Q2: one stray AND on either side is ignored.
  { filter: "AND trace.status = 'OK'", expected: [T4, T3, T1] },
  { filter: "trace.status = 'OK' AND", expected: [T4, T3, T1] },
  // Q3: quotes doubled or backslash-escaped.
  { filter: "tag.quote = 'it''s'", expected: [T1] },
  { filter: "tag.quote = 'it\\'s'", expected: [T1] },
  { filter: `tag.quote = "it's"`, expected: [T1] },
  // Q7: a quoted number on a numeric attribute is a number.
  { filter: "trace.execution_time_ms > '1000'", expected: [T4, T3] },
  // Q8: span attributes compare their real value.
  { filter: "span.attributes.model = 'gpt-4'", expected: [T4, T1] },
  { filter: "span.attributes.model IN ('gpt-4')", expected: [T4, T1] },
  { filter: "span.attributes.model = 'claude'", expected: [T2] },
  { filter: "span.attributes.n = '5'", expected: [T3] },
  { filter: "span.attributes.model != 'gpt-4'", expected: [T2, T1] },
  // E7, E8, E9, E10, E28: extensions.
  { filter: "name IN ('USER_LOGIN', 'my_function')", expected: [T2, T5] },
  { filter: "trace.status = 'OK' OR trace.status = 'ERROR'", expected: [T4, T3, T2, T1] },
  { filter: "(trace.status = 'OK')", expected: [T4, T3, T1] },
  { filter: "NOT trace.status = 'OK'", expected: [T2, T5] },
  { filter: "metadata.version IN ('v2.1', 'v1.0')", expected: [T3, T1] },
  { filter: "metadata.version NOT IN ('v2.1')", expected: [T3, T2] },
  // E30 and "feedback values": numeric comparison where the stored value is a number.
  { filter: "feedback.helpfulness > '3'", expected: [T3, T1] },
  { filter: "feedback.helpfulness >= '4'", expected: [T3, T1] },
  { filter: 'feedback.helpfulness = 5', expected: [T1] },
  { filter: 'feedback.helpfulness < 4', expected: [T2] },
  { filter: "feedback.helpfulness != '5'", expected: [T3, T2] },
  // Precedence NOT > AND > OR.
  { filter: "trace.status = 'ERROR' OR trace.status = 'OK' AND tag.env = 'production'", expected: [T3, T2, T1] },
  { filter: "(trace.status = 'ERROR' OR trace.status = 'OK') AND tag.env = 'production'", expected: [T3, T1] },
  { filter: "NOT trace.status = 'OK' AND NOT trace.status = 'ERROR'", expected: [T5] },
  { filter: "NOT (trace.status = 'OK' OR trace.status = 'ERROR')", expected: [T5] },
  // NOT over tags negates the trace predicate; != needs the key.
  { filter: "NOT tags.env = 'production'", expected: [T4, T2, T5] },
  { filter: "tags.env != 'production'", expected: [T2] },
  { filter: "NOT metadata.`mlflow.trace.user` = 'alice'", expected: [T3, T1, T5] },
  { filter: "metadata.`mlflow.trace.user` != 'alice'", expected: [T3, T1] },
  // Nullable columns under NOT: the clause is false, not unknown.
  { filter: "NOT trace.client_request_id = 'other'", expected: [T3, T2, T1, T5] },
  { filter: "trace.client_request_id != 'other'", expected: [T2, T1] },
  { filter: 'NOT trace.execution_time_ms > 1000', expected: [T2, T1, T5] },
  // Span groups: same span under AND; OR and NOT combine groups as booleans.
  { filter: "span.name = 'search_web' AND span.status = 'ERROR'", expected: [T1] },
  { filter: "span.name = 'search_web' AND span.type = 'LLM'", expected: [] },
  { filter: "span.name = 'search_web' AND (span.type = 'LLM')", expected: [] },
  { filter: "span.name = 'search_web' AND tag.env = 'staging' AND span.status = 'OK'", expected: [T2] },
  { filter: "NOT span.type = 'TOOL'", expected: [T4, T2, T1, T5] },
  { filter: "span.name = 'tool_call' OR span.name = 'llm.chat'", expected: [T4, T3] },
  { filter: "span.name = 'search_web' AND NOT span.status = 'OK'", expected: [] },
  { filter: "span.name = 'search_web' AND NOT span.status = 'UNSET'", expected: [T2, T1] },
  { filter: "span.name != 'search_web'", expected: [T4, T3, T2, T1] },
  // Session-scoped assessments: IS NULL excludes every trace of the session.
  { filter: 'feedback.session_quality IS NULL', expected: [T4, T3, T5] },
  { filter: 'feedback.session_quality IS NOT NULL', expected: [T2, T1] },
  // Invalid (overridden) assessments never count.
  { filter: "feedback.quality = 'bad'", expected: [] },
  // Unknown assessment names match nothing; the prompt filter checks one object.
  { filter: "feedback.no_such_name = 'x'", expected: [] },
  { filter: 'prompt = "other/3"', expected: [] },
  { filter: 'prompt = "qa-agent-system-prompt/3"', expected: [T2] },
  // Quoted keys MLflow would remap are literal keys.
  { filter: "tags.`name` = 'x'", expected: [] },
  // Fractional bounds on integer columns.
  { filter: 'trace.execution_time_ms > 999.5', expected: [T4, T3, T2] },
  { filter: 'trace.execution_time_ms <= 1000.5', expected: [T2, T1] },
  { filter: 'trace.execution_time_ms = 1000.5', expected: [] },
  { filter: 'trace.timestamp_ms < 1e30', expected: [T4, T3, T2, T1, T5] },
  // An empty filter is no filter (a blank one is a 400, as in MLflow: INVALID_FILTERS).
  { filter: '', expected: [T4, T3, T2, T1, T5] },
];

/** Reference §17: what the MLflow UI sends. */
const UI_STRINGS: Case[] = [
  { filter: `request_metadata."mlflow.trace.user" = 'user-123'`, expected: [T3, T1] },
  { filter: "request_metadata.mlflow.trace.session = 'session-xyz'", expected: [T3] },
  { filter: "request_metadata.mlflow.trace.session ILIKE '%xyz%'", expected: [T3] },
  { filter: "attributes.status = 'ERROR'", expected: [T2] },
  { filter: 'attributes.execution_time_ms > 1000', expected: [T4, T3] },
  { filter: 'attributes.execution_time_ms <= 1000', expected: [T2, T1] },
  { filter: "attributes.name = 'USER_LOGIN'", expected: [T2] },
  { filter: "attributes.name != 'USER_LOGIN'", expected: [T4, T3, T1, T5] },
  { filter: "attributes.run_id = 'run1'", expected: ['tr-1'], experiments: F },
  { filter: `request_metadata."mlflow.modelId" = 'm-1'`, expected: [T2] },
  { filter: `request_metadata."mlflow.source.name" = 'app.py'`, expected: [T3, T1] },
  { filter: "prompt = 'qa-agent-system-prompt/4'", expected: [T3, T1] },
  { filter: "tags.`mlflow.traceName` = 'predict_42'", expected: [T4] },
  { filter: 'tags.`my key` IS NOT NULL', expected: [T1] },
  { filter: 'tags.region IS NULL', expected: [T4, T3, T5] },
  { filter: "feedback.`correctness` = 'false'", expected: [T2] },
  { filter: 'feedback.`helpfulness` IS NOT NULL', expected: [T4, T3, T2, T1] },
  { filter: 'feedback.`helpfulness` IS NULL', expected: [T5] },
  { filter: "expectation.`output_format` = 'XML'", expected: [T4] },
  { filter: "request_metadata.version ILIKE '%v2%'", expected: [T2, T1] },
  { filter: 'attributes.timestamp_ms > 1700000000150 AND attributes.timestamp_ms < 1700000000400', expected: [T3, T2] },
  { filter: "trace.text ILIKE '%fun%'", expected: [T3] },
  { filter: "attributes.request_id = 'tr-0123456789abcdef0123456789abcdef'", expected: [T1] },
  { filter: "request_metadata.mlflow.trace.session ILIKE '%%'", expected: [T3, T2, T1] },
  { filter: "request_metadata.mlflow.trace.session = 'session-abc-456'", expected: [T2, T1] },
  { filter: "metadata.`mlflow.trace.session` = 'session-abc-456'", expected: [T1, T2], orderBy: ['timestamp ASC'] },
  { filter: '', expected: [T5, T1, T2, T3, T4], orderBy: ['timestamp ASC'] },
  { filter: '', expected: [T1, T2, T3, T4, T5], orderBy: ['execution_time ASC'] },
  { filter: '', expected: [T4, T3, T2, T1, T5], orderBy: ['execution_time DESC'] },
];

/** Reference §16.5 on [F], plus end_time and metadata ordering on experiment 3. */
const ORDERS: Case[] = [
  { filter: '', orderBy: [], expected: ['tr-4', 'tr-3', 'tr-2', 'tr-1', 'tr-0'] },
  { filter: '', orderBy: ['timestamp'], expected: ['tr-0', 'tr-1', 'tr-2', 'tr-3', 'tr-4'] },
  { filter: '', orderBy: ['timestamp DESC'], expected: ['tr-4', 'tr-3', 'tr-2', 'tr-1', 'tr-0'] },
  { filter: '', orderBy: ['execution_time DESC', 'timestamp ASC'], expected: ['tr-3', 'tr-4', 'tr-0', 'tr-2', 'tr-1'] },
  { filter: '', orderBy: ['experiment_id'], expected: ['tr-4', 'tr-3', 'tr-2', 'tr-1', 'tr-0'] },
  { filter: '', orderBy: ['status'], expected: ['tr-1', 'tr-4', 'tr-3', 'tr-0', 'tr-2'] },
  { filter: '', orderBy: ['name'], expected: ['tr-1', 'tr-2', 'tr-3', 'tr-4', 'tr-0'] },
  { filter: '', orderBy: ['tag.fruit'], expected: ['tr-2', 'tr-1', 'tr-3', 'tr-4', 'tr-0'] },
  { filter: '', orderBy: ['tag.fruit DESC'], expected: ['tr-3', 'tr-2', 'tr-1', 'tr-4', 'tr-0'] },
  { filter: '', orderBy: ['tag.nonexistent'], expected: ['tr-4', 'tr-3', 'tr-2', 'tr-1', 'tr-0'] },
  { filter: '', orderBy: ['run_id'], expected: ['tr-0', 'tr-1', 'tr-4', 'tr-3', 'tr-2'] },
  { filter: '', orderBy: ['run_id DESC'], expected: ['tr-1', 'tr-0', 'tr-4', 'tr-3', 'tr-2'] },
  { filter: '', orderBy: ['request_id'], expected: ['tr-0', 'tr-1', 'tr-2', 'tr-3', 'tr-4'] },
  { filter: '', orderBy: ['trace.timestamp_ms desc'], expected: ['tr-4', 'tr-3', 'tr-2', 'tr-1', 'tr-0'] },
  { filter: '', orderBy: ['metadata.`mlflow.trace.user`'], expected: [T4, T2, T3, T1, T5], experiments: X },
  { filter: '', orderBy: ['metadata.`mlflow.trace.user` DESC'], expected: [T3, T1, T4, T2, T5], experiments: X },
  { filter: '', orderBy: ['end_time'], expected: [T5, T1, T2, T3, T4], experiments: X },
  { filter: '', orderBy: ['end_time_ms DESC'], expected: [T4, T3, T2, T1, T5], experiments: X },
  { filter: '', orderBy: ['metadata.version DESC'], expected: [T2, T1, T3, T4, T5], experiments: X },
  { filter: '', orderBy: ['tags.`my key`'], expected: [T1, T4, T3, T2, T5], experiments: X },
];

/** Reference §16.4 (kept as errors by Threadline) and the quirks decision 2 rejects. */
const INVALID_FILTERS: Array<{ filter: string; mentions: string }> = [
  { filter: 'invalid', mentions: "'invalid' at position 0" },
  { filter: "name = 'foo' AND invalid", mentions: "'invalid' at position 17" },
  { filter: "foo.bar = 'baz'", mentions: "'foo.bar' at position 0" },
  { filter: "invalid = 'foo'", mentions: "'invalid' at position 0" },
  { filter: "trace.tags.foo = 'bar'", mentions: "'trace.tags.foo'" },
  { filter: "trace.status < 'OK'", mentions: "'<' at position 13" },
  { filter: "trace.status = 'OK'; tag.a = 'b'", mentions: "';' at position 19" },
  { filter: 'trace.status = OK', mentions: "'OK' at position 15" },
  { filter: "'OK' = trace.status", mentions: "''OK'' at position 0" },
  { filter: "tag.a = 'b", mentions: 'position 8' },
  { filter: 'tag.acc = 5', mentions: "'5' at position 10" },
  { filter: "tag.env > 'a'", mentions: "'>' at position 8" },
  { filter: "tag.my-key = 'x'", mentions: "'-' at position 6" },
  { filter: "TRACE.STATUS = 'OK'", mentions: "'TRACE.STATUS'" },
  { filter: "trace.STATUS = 'OK'", mentions: "'trace.STATUS'" },
  { filter: "trace.execution_time_ms LIKE '10%'", mentions: "'LIKE' at position 24" },
  { filter: 'trace.end_time_ms IN (1, 2)', mentions: "'IN'" },
  { filter: 'trace.status IN ()', mentions: 'empty list' },
  { filter: "trace.status IN ('OK', 1)", mentions: "'1'" },
  { filter: "trace.text = 'hello'", mentions: "'='" },
  { filter: "span.duration = '1000'", mentions: "'span.duration'" },
  { filter: "span.parent_id = '123'", mentions: "'span.parent_id'" },
  { filter: "span.attributes. LIKE '%x%'", mentions: "'span.attributes.'" },
  { filter: 'feedback.helpfulness > 3 AND feedback.x > 1 AND span.name IS NULL', mentions: "'IS NULL'" },
  { filter: "feedback.helpfulness > 'high'", mentions: "'high'" },
  { filter: "expectation.format = 5", mentions: "'5'" },
  { filter: "assessment.correctness = 'yes'", mentions: "'assessment.correctness'" },
  { filter: "issue.id != 'x'", mentions: "'!='" },
  { filter: "issue.title = 'x'", mentions: "'issue.title'" },
  { filter: 'prompt LIKE "%qa-agent%"', mentions: "'LIKE'" },
  { filter: 'prompt = "foo/1/baz"', mentions: "'foo/1/baz'" },
  { filter: 'prompt = "qa-agent-system-prompt"', mentions: "'qa-agent-system-prompt'" },
  { filter: "tag.x BETWEEN 'a' AND 'b'", mentions: "'BETWEEN'" },
  { filter: "tag.a = 'b' -- comment", mentions: "'-- comment'" },
  { filter: "params.x = 'y'", mentions: "'params.x'" },
  { filter: "run.status = 'OK'", mentions: "'run.status'" },
  { filter: "attr.status = 'OK'", mentions: "'attr.status'" },
  { filter: 'timestamp > 1.5 1', mentions: "'1'" },
  { filter: "trace.status == 'OK'", mentions: "'=='" },
  { filter: "trace.status <> 'OK'", mentions: "'<>'" },
  { filter: '1 = 1', mentions: "'1' at position 0" },
  // MLflow: "Invalid filter '   '. Could not be parsed."
  { filter: '   ', mentions: 'blank' },
  { filter: ' \n\t', mentions: 'blank' },
  // Decision 2: Q1, Q4, Q5, Q6, Q9 and stray ANDs beyond one on each side.
  { filter: "trace.status = 'OK' tag.a = 'b'", mentions: "'tag.a' at position 20" },
  { filter: "feedback.name = 'x'", mentions: "'feedback.name'" },
  { filter: "metadata.name = 'x'", mentions: 'trace.name' },
  { filter: "issue.name = 'x'", mentions: "'issue.name'" },
  { filter: "tag.run_id = 'r1'", mentions: 'trace.run_id' },
  { filter: "expectation.text LIKE '%x%'", mentions: 'trace.text' },
  { filter: "tags.Timestamp = '1'", mentions: 'trace.timestamp_ms' },
  { filter: "tag. = 'x'", mentions: "'tag.'" },
  { filter: "feedback. = 'x'", mentions: "'feedback.'" },
  { filter: "trace.status = 'OK' AND AND tag.a = 'b'", mentions: "'AND' at position 24" },
  { filter: 'AND', mentions: 'position 3' },
  { filter: 'AND AND', mentions: "'AND' at position 4" },
  { filter: "AND AND trace.status = 'OK'", mentions: "'AND' at position 4" },
  { filter: "trace.status = 'OK' AND AND", mentions: "'AND' at position 24" },
  // The boolean layer's own mistakes.
  { filter: "(trace.status = 'OK'", mentions: "expected ')'" },
  { filter: "trace.status = 'OK')", mentions: "')' at position 19" },
  { filter: "NOT", mentions: 'position 3' },
  { filter: "trace.status = 'OK' OR", mentions: 'position 22' },
  { filter: "trace.status NOT LIKE 'OK'", mentions: "'LIKE'" },
  { filter: 'tag.env IS NOT', mentions: 'position 14' },
  { filter: "tag.env = NULL", mentions: "'NULL'" },
  // Patterns refused before they reach SQL.
  { filter: "trace.name RLIKE '('", mentions: 'not a valid regular expression' },
  { filter: "trace.name RLIKE '\\bword'", mentions: '\\b' },
  { filter: "trace.name RLIKE '[[:alpha:]]'", mentions: 'POSIX' },
  { filter: "trace.name RLIKE 'a(?=b)'", mentions: 'lookahead' },
  { filter: "trace.name RLIKE '(a{100}){11}'", mentions: 'too large' },
  { filter: "trace.name RLIKE 'a{300}'", mentions: '255' },
  { filter: "trace.name LIKE 'abc\\'", mentions: 'unterminated' },
  { filter: "trace.name LIKE 'abc\\\\\\'", mentions: 'unterminated' },
];

const INVALID_ORDERS: Array<{ orderBy: string[]; mentions: string }> = [
  { orderBy: ['timestamp_ms', 'timestamp_ms DESC'], mentions: 'second time' },
  { orderBy: ['timestamp', 'timestamp_ms DESC'], mentions: 'second time' },
  { orderBy: ['timestamp_ms DOWN'], mentions: "'DOWN'" },
  { orderBy: ['timestamp_ms DESC NULLS LAST'], mentions: "'DESC NULLS LAST'" },
  { orderBy: ['client_request_id'], mentions: "'client_request_id'" },
  { orderBy: ['span.name'], mentions: "'span.'" },
  { orderBy: ['feedback.rating'], mentions: "'feedback.'" },
  { orderBy: ['foo.bar'], mentions: "'foo.'" },
  { orderBy: ['tag.'], mentions: 'empty' },
  { orderBy: [''], mentions: 'expected a key' },
  { orderBy: ['tag.`unterminated'], mentions: 'unterminated' },
  { orderBy: ['tag.name'], mentions: 'trace.name' },
];

const databases: Array<[string, TestDatabaseFactory | undefined]> = [
  ['sqlite', openSqlite],
  ['postgres', await postgresOrSkip()],
];

for (const [name, open] of databases) {
  describe.skipIf(!open)(`trace search on ${name}`, () => {
    let database: TestDatabase;
    const search = async (request: Partial<TraceSearchRequest>) =>
      findTraceIds(database.db, database.dialect, { experimentIds: X, maxResults: 100, ...request });

    beforeAll(async () => {
      database = await open!();
      await loadSearchFixture(database.db);
    });
    afterAll(async () => {
      await database?.close();
    });

    const runCases = (cases: Case[], defaultExperiments: string[]) => {
      for (const c of cases) {
        it(`${JSON.stringify(c.filter)}${c.orderBy ? ` order_by ${JSON.stringify(c.orderBy)}` : ''}`, async () => {
          const page = await search({ experimentIds: c.experiments ?? defaultExperiments, filter: c.filter, ...(c.orderBy ? { orderBy: c.orderBy } : {}) });
          expect(page.traceIds).toEqual(c.expected);
        });
      }
    };

    describe('valid filters on fixture [F] (§16.2)', () => runCases(FIXTURE_FILTERS, F));
    describe('valid filters on the rich fixture (§16.2)', () => runCases(RICH_FILTERS, X));
    describe("Threadline's decisions (§18)", () => runCases(DECISIONS, X));
    describe('UI filter strings (§17)', () => runCases(UI_STRINGS, X));
    describe('order_by (§16.5)', () => runCases(ORDERS, F));

    describe('invalid filters (§16.4, §18)', () => {
      for (const c of INVALID_FILTERS) {
        it(JSON.stringify(c.filter), async () => {
          const error = await search({ filter: c.filter }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ApiError);
          expect((error as ApiError).status).toBe(400);
          expect((error as ApiError).errorCode).toBe('INVALID_PARAMETER_VALUE');
          expect((error as ApiError).message).toContain(c.mentions);
        });
      }
    });

    describe('invalid order_by (§16.5, decision 4)', () => {
      for (const c of INVALID_ORDERS) {
        it(JSON.stringify(c.orderBy), async () => {
          const error = await search({ orderBy: c.orderBy }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ApiError);
          expect((error as ApiError).status).toBe(400);
          expect((error as ApiError).message).toContain(c.mentions);
        });
      }
    });

    describe('pagination (§16.6, decision 6)', () => {
      const pages = async (request: Partial<TraceSearchRequest>) => {
        const result: string[][] = [];
        let pageToken: string | undefined;
        do {
          const page = await search({ ...request, ...(pageToken ? { pageToken } : {}) });
          result.push(page.traceIds);
          pageToken = page.nextPageToken;
        } while (pageToken && result.length < 20);
        return result;
      };

      it('pages through [F] two at a time, the last page without a token', async () => {
        const first = await search({ experimentIds: F, maxResults: 2 });
        expect(first.traceIds).toEqual(['tr-4', 'tr-3']);
        const second = await search({ experimentIds: F, maxResults: 2, pageToken: first.nextPageToken! });
        expect(second.traceIds).toEqual(['tr-2', 'tr-1']);
        const third = await search({ experimentIds: F, maxResults: 2, pageToken: second.nextPageToken! });
        expect(third).toEqual({ traceIds: ['tr-0'] });
      });

      it('returns a token whenever the page is full, so the last page may be empty', async () => {
        expect(await pages({ experimentIds: F, maxResults: 5 })).toEqual([['tr-4', 'tr-3', 'tr-2', 'tr-1', 'tr-0'], []]);
      });

      const orders: Array<{ orderBy: string[]; experiments: string[] }> = [
        { orderBy: ['tag.fruit'], experiments: F },
        { orderBy: ['tag.fruit DESC'], experiments: F },
        { orderBy: ['status', 'execution_time DESC'], experiments: F },
        { orderBy: ['execution_time ASC'], experiments: X },
        { orderBy: ['execution_time DESC'], experiments: X },
        { orderBy: ['metadata.`mlflow.trace.user` DESC', 'end_time'], experiments: X },
        { orderBy: ['name DESC'], experiments: [...F, ...X] },
        { orderBy: ['request_id DESC'], experiments: [...F, ...X] },
      ];
      for (const { orderBy, experiments } of orders) {
        it(`pages one at a time by ${JSON.stringify(orderBy)} in the same order as one page`, async () => {
          const whole = await search({ experimentIds: experiments, orderBy, maxResults: 100 });
          const single = await pages({ experimentIds: experiments, orderBy, maxResults: 1 });
          expect(single.flat()).toEqual(whole.traceIds);
          expect(single.at(-1)).toEqual([]);
        });
      }

      it('keeps the filter across pages', async () => {
        expect(await pages({ filter: "trace.status = 'OK'", maxResults: 2 })).toEqual([[T4, T3], [T1]]);
      });

      it('binds a token to its filter, order and experiments', async () => {
        const first = await search({ filter: "trace.status = 'OK'", maxResults: 1 });
        const token = first.nextPageToken!;
        // The same search spelled differently is the same search.
        const respelled = await search({ filter: 'attributes.status = "OK"', maxResults: 1, pageToken: token });
        expect(respelled.traceIds).toEqual([T3]);
        for (const other of [
          { filter: "trace.status = 'ERROR'" },
          { filter: "trace.status = 'OK'", orderBy: ['timestamp ASC'] },
          { filter: "trace.status = 'OK'", experimentIds: ['3', '1'] },
        ]) {
          const error = await search({ maxResults: 1, ...other, pageToken: token }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ApiError);
          expect((error as ApiError).message).toMatch(/^Invalid page token/);
        }
      });

      it.each([
        'not a token!',
        'aGVsbG8',
        Buffer.from('{"offset": 100}').toString('base64url'),
        Buffer.from(JSON.stringify({ v: 1, s: 'x', k: [] })).toString('base64url'),
        '',
      ])('refuses the page token %j', async (pageToken) => {
        const error = await search({ pageToken: pageToken || '=' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ApiError);
        expect((error as ApiError).status).toBe(400);
        expect((error as ApiError).message).toMatch(/^Invalid page token/);
      });

      it('refuses a token whose position does not fit the order', async () => {
        const first = await search({ maxResults: 1 });
        const body = JSON.parse(Buffer.from(first.nextPageToken!, 'base64url').toString('utf8'));
        for (const k of [['x', 'y'], [1.5, 'y'], [1], [1, 2], [null, 'y']]) {
          const forged = Buffer.from(JSON.stringify({ ...body, k })).toString('base64url');
          const error = await search({ maxResults: 1, pageToken: forged }).catch((e: unknown) => e);
          expect((error as ApiError).message).toMatch(/^Invalid page token/);
        }
      });
    });

    describe('request checks', () => {
      it.each([[['x']], [[]], [['1; DROP TABLE traces']]])('refuses experiment ids %j', async (experimentIds) => {
        await expect(search({ experimentIds })).rejects.toBeInstanceOf(ApiError);
      });
      it.each([0, -1, 1.5])('refuses max_results %j', async (maxResults) => {
        await expect(search({ maxResults })).rejects.toThrow(/max_results/);
      });
    });
  });
}
