import {
  FILTER_LANGUAGES,
  FILTER_SUGGESTIONS_PATH,
  FILTER_VALUE_KINDS,
  FILTER_VALUES_PATH,
  type FilterLanguage,
  type FilterSuggestionsJson,
  type FilterValueKind,
  type FilterValuesJson,
} from '@threadline/protocol';
import type { FastifyInstance } from 'fastify';
import { invalidParameter } from '../errors.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import { filterFieldsOf } from '../query/filter-field-list.js';
import type { RouteContext } from './app.js';
import { bodyObject, optionalString } from './fields.js';

/** Longer prefixes are no id anyone types: refused rather than sent to the database. */
export const MAX_VALUE_PREFIX_LENGTH = 256;

/**
 * What a filter box offers while a filter is typed (packages/protocol/src/filter-suggestions.ts):
 * a language's fields with the tag and metadata keys in use, and the experiment's user or session
 * ids that begin with what was typed. READ on the experiment; 404 for an unknown one.
 */
export function registerFilterSuggestionRoutes(app: FastifyInstance, { store, experiments }: RouteContext): void {
  const route = (path: string) => path.replace('{experiment_id}', ':experiment_id');

  app.get<{ Params: { experiment_id: string } }>(route(FILTER_SUGGESTIONS_PATH), async (req): Promise<FilterSuggestionsJson> => {
    const experimentId = parseExperimentId(req.params.experiment_id, 'experiment_id');
    const language = oneOf<FilterLanguage>(bodyObject(req.query), 'language', FILTER_LANGUAGES, 'traces');
    await experiments.artifactLocation(experimentId);
    const { tagKeys, metadataKeys } = await store.filterSuggestions.keys(experimentId);
    return { fields: filterFieldsOf(language), tag_keys: tagKeys, metadata_keys: metadataKeys };
  });

  app.get<{ Params: { experiment_id: string } }>(route(FILTER_VALUES_PATH), async (req): Promise<FilterValuesJson> => {
    const experimentId = parseExperimentId(req.params.experiment_id, 'experiment_id');
    const query = bodyObject(req.query);
    const of = oneOf<FilterValueKind>(query, 'of', FILTER_VALUE_KINDS);
    const prefix = optionalString(query, 'prefix') ?? '';
    if (prefix.length > MAX_VALUE_PREFIX_LENGTH) throw invalidParameter(`Invalid value for parameter 'prefix': it may be at most ${MAX_VALUE_PREFIX_LENGTH} characters long.`);
    await experiments.artifactLocation(experimentId);
    return { values: await store.filterSuggestions.values(experimentId, of, prefix) };
  });
}

/** A parameter that takes one of `allowed`; `fallback` when it is absent, else it is required. */
function oneOf<T extends string>(query: Record<string, unknown>, field: string, allowed: readonly T[], fallback?: T): T {
  const value = optionalString(query, field);
  if (value === undefined && fallback !== undefined) return fallback;
  if (value === undefined) throw invalidParameter(`Missing value for required parameter '${field}': it must be one of ${allowed.join(', ')}.`);
  if (!(allowed as readonly string[]).includes(value)) throw invalidParameter(`Invalid value '${value}' for parameter '${field}': it must be one of ${allowed.join(', ')}.`);
  return value as T;
}
