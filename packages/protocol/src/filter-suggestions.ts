/**
 * What a filter box can offer while a filter is typed (the UI's completion), READ on the experiment:
 *
 * - `GET /api/threadline/experiments/{experiment_id}/filter-suggestions?language=traces|sessions|users`:
 *   the language's fields, and the tag and metadata keys of the experiment's newest traces
 *   ({@link FilterSuggestionsJson});
 * - `GET /api/threadline/experiments/{experiment_id}/filter-suggestions/values?of=user|session&prefix=`:
 *   the experiment's user or session ids that begin with `prefix` ({@link FilterValuesJson}); the
 *   most recently active first without a prefix, in order of their ids with one.
 *
 * A wrong `language`, `of` or `prefix` is a 400 `INVALID_PARAMETER_VALUE`; an unknown experiment a 404.
 */
export const FILTER_SUGGESTIONS_PATH = '/threadline/experiments/{experiment_id}/filter-suggestions';
export const FILTER_VALUES_PATH = '/threadline/experiments/{experiment_id}/filter-suggestions/values';

/** The filter languages: of the traces search, and of the sessions and users searches. */
export const FILTER_LANGUAGES = ['traces', 'sessions', 'users'] as const;
export type FilterLanguage = (typeof FILTER_LANGUAGES)[number];

/** Whose ids a value suggestion is. */
export const FILTER_VALUE_KINDS = ['user', 'session'] as const;
export type FilterValueKind = (typeof FILTER_VALUE_KINDS)[number];

/** One field of a filter language, as it is written in a filter. */
export interface FilterFieldJson {
  /**
   * The field as written: `trace.status`, `turns`, ``metadata.`mlflow.trace.user` ``; or, ending in
   * a dot, the prefix of a family of fields whose key follows it: `tag.`, `span.attributes.`.
   */
  name: string;
  /** Other spellings of a prefix (`tags.` for `tag.`). */
  aliases?: string[];
  /** The comparators it takes, as the language writes them: `=`, `LIKE`, `IS NOT NULL`... */
  operators: string[];
  /** What it compares, in a few words. */
  description: string;
  /** After the prefix comes a key of these: tag keys or metadata keys ({@link FilterSuggestionsJson}). */
  keys?: 'tag' | 'metadata';
  /** Its values are the experiment's user or session ids: offered from {@link FILTER_VALUES_PATH}. */
  values?: FilterValueKind;
}

export interface FilterSuggestionsJson {
  fields: FilterFieldJson[];
  /** Keys of the tags of the experiment's newest traces (up to about a thousand of them), sorted. */
  tag_keys: string[];
  /** Keys of the metadata of the same traces, sorted. */
  metadata_keys: string[];
}

export interface FilterValuesJson {
  values: string[];
}
