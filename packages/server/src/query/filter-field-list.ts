import { TraceMetadataKey, type FilterFieldJson, type FilterLanguage } from '@threadline/protocol';
import { ATTRIBUTES, ENTITIES, operatorsOf, resolveField, SPAN_COLUMNS, type Entity, type FieldResolver } from './filter-fields.js';
import { readIdentifier } from './filter-lexer.js';
import { rollupFieldResolver, type RollupLanguage } from './rollup-search.js';
import { SESSION_LANGUAGE } from './session-search.js';
import { USER_LANGUAGE } from './user-search.js';

/**
 * The fields of each filter language, as a filter box offers them while a filter is typed. They
 * come from the tables the parser resolves names with (filter-fields.ts, the rollup languages),
 * and each is resolved by that parser here, with its comparators from it, so that the list cannot
 * offer a name the language refuses.
 */

/** Trace attributes, by their key in {@link ATTRIBUTES}; one without a line here is still listed. */
const ATTRIBUTE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  timestamp_ms: 'when the trace started, ms since the epoch',
  execution_time_ms: 'how long it took, ms',
  end_time_ms: 'when it ended, ms since the epoch',
  cost: 'what its LLM calls cost, USD',
  status: "its state: 'OK', 'ERROR', 'IN_PROGRESS'",
  request_id: 'the trace id',
  client_request_id: "the client's own request id",
  name: "its root span's name",
  run_id: 'the MLflow run it was logged in',
  prompt: "a prompt it used: 'name/version'",
  text: "words of its inputs and outputs: MATCH 'refund \"late delivery\"'",
};

/** Prefixes and what follows them, by entity; `attribute` is written `trace.`. */
const ENTITY_FIELDS: readonly { entity: Entity; written?: string; key: string; description: string; keys?: 'tag' | 'metadata' }[] = [
  { entity: 'tag', key: '', description: 'a tag of the trace, by key', keys: 'tag' },
  { entity: 'metadata', key: '', description: 'a metadata entry of the trace, by key', keys: 'metadata' },
  ...SPAN_COLUMNS.map((column) => ({ entity: 'span' as const, key: column, description: `the ${column} of some span` })),
  { entity: 'span', key: 'content', description: 'the whole content of some span, as JSON text' },
  { entity: 'span', key: 'attributes.', description: 'an attribute of some span, by name' },
  { entity: 'feedback', key: '', description: 'feedback on the trace, by name' },
  { entity: 'expectation', key: '', description: 'an expectation on the trace, by name' },
  { entity: 'issue', key: 'id', description: 'an issue linked to the trace' },
];

/** Descriptions of the rollup languages' own columns and fields, by name. */
const ROLLUP_DESCRIPTIONS: Readonly<Record<string, string>> = {
  session_id: 'the session id',
  user_id: 'the user id',
  user: 'some user of the session',
  turns: 'how many turns (traces) it has',
  users: 'how many users took part',
  traces: 'how many traces',
  sessions: 'how many sessions',
  first_time: 'first activity, ms since the epoch',
  last_time: 'last activity, ms since the epoch',
  duration_ms: 'from the first turn to the end of the last, ms',
  errors: 'how many traces failed',
  input_tokens: 'input tokens of all its traces',
  output_tokens: 'output tokens of all its traces',
  total_tokens: 'tokens of all its traces',
  cost: 'what all its LLM calls cost, USD',
};

/**
 * The fields of a filter language: for traces the trace attributes, the prefixes of tags,
 * metadata, spans and assessments, and the user and session metadata; for sessions and users
 * their own fields first, then every trace field ("some trace matches").
 *
 * @example
 * filterFieldsOf('sessions').map((f) => f.name); // ['session_id', 'turns', 'users', ..., 'trace.status', ..., 'tag.', ...]
 */
export function filterFieldsOf(language: FilterLanguage): FilterFieldJson[] {
  let fields = LISTS.get(language);
  if (!fields) {
    fields = language === 'traces' ? traceFields(resolveField) : rollupFields(language === 'sessions' ? SESSION_LANGUAGE : USER_LANGUAGE);
    LISTS.set(language, fields);
  }
  return fields;
}

const LISTS = new Map<FilterLanguage, FilterFieldJson[]>();

function traceFields(resolve: FieldResolver): FilterFieldJson[] {
  const fields: FilterFieldJson[] = [];
  const seen = new Set<string>();
  for (const [key, field] of ATTRIBUTES) {
    // An alias names a field already listed under the name it stands for.
    const identity = JSON.stringify(field);
    if (seen.has(identity)) continue;
    seen.add(identity);
    fields.push(checked(resolve, { name: `trace.${key}`, description: ATTRIBUTE_DESCRIPTIONS[key] ?? 'an attribute of the trace' }));
  }
  for (const { entity, key, description, keys } of ENTITY_FIELDS) {
    const [written, ...aliases] = entityNames(entity);
    fields.push(
      checked(resolve, {
        name: `${written}.${key}`,
        ...(key === '' && aliases.length > 0 ? { aliases: aliases.map((a) => `${a}.`) } : {}),
        description,
        ...(keys ? { keys } : {}),
      }),
    );
  }
  fields.push(checked(resolve, { name: `metadata.\`${TraceMetadataKey.USER}\``, description: 'the user the trace was for', values: 'user' }));
  fields.push(checked(resolve, { name: `metadata.\`${TraceMetadataKey.SESSION}\``, description: 'the session (conversation) it is a turn of', values: 'session' }));
  return fields;
}

function rollupFields(language: RollupLanguage): FilterFieldJson[] {
  const resolve = rollupFieldResolver(language);
  const own: FilterFieldJson[] = [];
  // The column holding the rollup's own ids (`session_id`, `user_id`) takes the ids as values.
  const idColumn = `${language.prefix}_id`;
  for (const [name, column] of language.columns) {
    if (name !== column.name) continue;
    own.push(checked(resolve, { name, description: ROLLUP_DESCRIPTIONS[name] ?? `a ${language.prefix} column`, ...(name === idColumn ? { values: language.prefix as 'user' | 'session' } : {}) }));
  }
  for (const [name, field] of language.extraFields) {
    own.push(checked(resolve, { name, description: ROLLUP_DESCRIPTIONS[name] ?? `a ${language.prefix} field`, ...(field.kind === 'session-user' ? { values: 'user' as const } : {}) }));
  }
  const traceClauses = traceFields(resolve).map((f) => ({ ...f, description: `some trace: ${f.description}` }));
  return [...own, ...traceClauses];
}

/** The prefixes of an entity as ENTITIES spells them, the written one first (`trace` for attributes). */
function entityNames(entity: Entity): string[] {
  const names = [...ENTITIES].filter(([, e]) => e === entity).map(([name]) => name);
  return entity === 'attribute' ? ['trace', ...names.filter((n) => n !== 'trace')] : names;
}

/**
 * The field with the comparators the language's resolver gives it; a prefix (`tag.`) is resolved
 * with a key after it. Throws when the resolver refuses the name: a list out of step with the
 * language fails the first request (and the tests), not a user's filter.
 */
function checked(resolve: FieldResolver, field: Omit<FilterFieldJson, 'operators'>): FilterFieldJson {
  const written = field.name.endsWith('.') ? `${field.name}key` : field.name;
  const resolved = resolve(readIdentifier(written, 0));
  return { ...field, operators: [...operatorsOf(resolved)] };
}
