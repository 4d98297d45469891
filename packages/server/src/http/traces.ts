import {
  ApiPath,
  ErrorCode,
  MAX_TAG_KEY_LENGTH,
  SEARCH_TRACES_DEFAULT_MAX_RESULTS,
  SEARCH_TRACES_MAX_RESULTS,
  TraceLocationType,
  type TraceInfoJson,
} from '@threadline/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, invalidParameter, notFound } from '../errors.js';
import { parseExperimentId, parseStartTraceRequest, parseStringMap, MAX_TAG_VALUE_CHARS } from '../ingest/mlflow-trace-info.js';
import { isObject } from '../ingest/mlflow-spans.js';
import { parseLoggedAssessments } from '../ingest/mlflow-assessment.js';
import { stringifyJson } from '../json.js';
import type { TracePage } from '../store/store.js';
import type { MlflowCostJson, StoredTrace } from '../trace-model.js';
import type { RouteContext } from './app.js';
import { bodyObject, optionalInteger, optionalString, optionalStringList, requiredString } from './fields.js';
import { storedSpanToOtlpJson } from './otlp-span-json.js';
import { spanCostsOf, withSpanCost } from './span-cost.js';
import { traceInfoJson, traceInfoV2Json } from './views.js';

/** Trace ids asked for at once by batch reads; MLflow's clients ask for far fewer. */
const MAX_BATCH_TRACE_IDS = 1000;

/** Traces: log, read, tag, delete (V3 and the legacy V2 paths). */
export function registerTraceRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store, experiments } = context;

  const infoJson = async (trace: StoredTrace): Promise<TraceInfoJson> =>
    traceInfoJson(trace, await experiments.artifactLocation(trace.experimentId));

  const requireTrace = async (traceId: string): Promise<StoredTrace> => {
    const trace = await store.getTrace(traceId);
    if (!trace) throw notFound(`Trace with ID '${traceId}' not found.`);
    return trace;
  };

  app.post(ApiPath.TRACES_START_V3, async (req) => {
    const record = parseStartTraceRequest(req.body);
    const assessments = parseLoggedAssessments(req.body);
    await experiments.requireActive(record.experimentId);
    const result = await store.startTrace(record, assessments);
    switch (result.kind) {
      case 'created':
      case 'updated':
        return { trace: { trace_info: await infoJson(result.trace) } };
      case 'metadata-conflict':
        throw invalidParameter(
          `Trace '${record.traceId}' is already logged and its metadata is immutable; this request would change ` +
            `${result.keys.map((k) => `'${k}'`).join(', ')}. Nothing was changed. Tags can be changed with the trace tag endpoints.`,
        );
      case 'experiment-conflict':
        throw new ApiError(
          ErrorCode.RESOURCE_CONFLICT,
          `Trace '${record.traceId}' is already logged in experiment ${result.trace.experimentId}, not ${record.experimentId}. Nothing was changed.`,
        );
      case 'finished-conflict':
        throw new ApiError(
          ErrorCode.RESOURCE_CONFLICT,
          `Trace '${record.traceId}' has finished (state ${result.trace.state}) and what happened cannot be rewritten; this request would change ` +
            `${result.fields.map((f) => `'${f}'`).join(', ')}. Nothing was changed. An identical retry is accepted; tags can be changed with the trace tag endpoints.`,
        );
    }
  });

  app.get<{ Params: { trace_id: string } }>(ApiPath.TRACES_GET_INFO_V3.replace('{trace_id}', ':trace_id'), async (req) => ({
    trace: { trace_info: await infoJson(await requireTrace(req.params.trace_id)) },
  }));

  /** A trace with its spans, each LLM span with its cost (`costs`: from `spanCostsOf`). */
  const traceWithSpans = async (trace: StoredTrace, costs: Map<string, Map<string, MlflowCostJson>>) => {
    const costOf = costs.get(trace.traceId);
    return {
      trace_info: await infoJson(trace),
      spans: (await store.getSpans(trace.traceId)).map((s) => withSpanCost(storedSpanToOtlpJson(s.contentJson), costOf?.get(s.spanId))),
    };
  };
  const sendJson = (reply: FastifyReply, value: unknown) => reply.type('application/json').send(stringifyJson(value));

  app.get(ApiPath.TRACES_GET_V3, async (req, reply) => {
    const trace = await requireTrace(requiredString(bodyObject(req.query), 'trace_id'));
    return sendJson(reply, { trace: await traceWithSpans(trace, await spanCostsOf(store, [trace])) });
  });

  app.get(ApiPath.TRACES_BATCH_GET_V3, async (req, reply) => {
    const ids = batchIds(bodyObject(req.query));
    const traces = await store.getTraces(ids);
    const costs = await spanCostsOf(store, traces);
    return sendJson(reply, { traces: await Promise.all(traces.map((t) => traceWithSpans(t, costs))) });
  });

  app.post(ApiPath.TRACES_BATCH_GET_INFOS_V3, async (req) => {
    const traces = await store.getTraces(batchIds(bodyObject(req.body)));
    return { trace_infos: await Promise.all(traces.map(infoJson)) };
  });

  const search = (params: Record<string, unknown>, experimentIds: string[]): Promise<TracePage> => {
    const filter = optionalString(params, 'filter');
    const pageToken = optionalString(params, 'page_token');
    const orderBy = optionalStringList(params, 'order_by');
    return store.searchTraces({
      experimentIds,
      maxResults: optionalInteger(params, 'max_results', 1, SEARCH_TRACES_MAX_RESULTS) ?? SEARCH_TRACES_DEFAULT_MAX_RESULTS,
      ...(filter !== undefined && filter !== '' ? { filter } : {}),
      ...(orderBy !== undefined ? { orderBy } : {}),
      ...(pageToken ? { pageToken } : {}),
    });
  };

  app.post(ApiPath.TRACES_SEARCH_V3, async (req) => {
    const body = bodyObject(req.body);
    const page = await search(body, searchLocations(body));
    return {
      traces: await Promise.all(page.traces.map(infoJson)),
      ...(page.nextPageToken !== undefined ? { next_page_token: page.nextPageToken } : {}),
    };
  });

  app.get(ApiPath.TRACES_SEARCH_V2, async (req) => {
    const params = bodyObject(req.query);
    const experimentIds = (optionalStringList(params, 'experiment_ids') ?? []).map((id) => parseExperimentId(id, 'experiment_ids'));
    if (experimentIds.length === 0) throw invalidParameter(`Missing value for required parameter 'experiment_ids'.`);
    const page = await search(params, experimentIds);
    const traces = await Promise.all(page.traces.map(async (t) => traceInfoV2Json(t, await experiments.artifactLocation(t.experimentId))));
    return { traces, ...(page.nextPageToken !== undefined ? { next_page_token: page.nextPageToken } : {}) };
  });

  app.get<{ Params: { request_id: string } }>(ApiPath.TRACES_GET_INFO_V2.replace('{request_id}', ':request_id'), async (req) => {
    const trace = await requireTrace(req.params.request_id);
    return { trace_info: traceInfoV2Json(trace, await experiments.artifactLocation(trace.experimentId)) };
  });

  for (const path of [ApiPath.TRACES_TAGS_V3.replace('{trace_id}', ':id'), ApiPath.TRACES_TAGS_V2.replace('{request_id}', ':id')]) {
    app.patch<{ Params: { id: string } }>(path, async (req) => {
      const body = bodyObject(req.body);
      const key = requiredString(body, 'key');
      const value = body.value;
      if (typeof value !== 'string') throw invalidParameter(`Invalid value ${JSON.stringify(value ?? null)} for parameter 'value': it must be a string.`);
      parseStringMap({ [key]: value }, 'tag', MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_CHARS);
      await requireTrace(req.params.id);
      await store.setTraceTag(req.params.id, key, value);
      return {};
    });
    app.delete<{ Params: { id: string } }>(path, async (req) => {
      // MLflow's clients send the key in a JSON body; query-string callers are served too.
      const key = requiredString({ ...bodyObject(req.query), ...bodyObject(req.body) }, 'key');
      await requireTrace(req.params.id);
      if (!(await store.deleteTraceTag(req.params.id, key))) throw notFound(`No tag with key '${key}' on trace '${req.params.id}'.`);
      return {};
    });
  }

  for (const path of [ApiPath.TRACES_DELETE_V3, ApiPath.TRACES_DELETE_V2]) {
    app.post(path, async (req) => {
      const body = bodyObject(req.body);
      const experimentId = parseExperimentId(body.experiment_id, 'experiment_id');
      const traceIds = optionalStringList(body, 'request_ids') ?? optionalStringList(body, 'trace_ids');
      const maxTimestampMillis = optionalInteger(body, 'max_timestamp_millis', 0);
      const maxTraces = optionalInteger(body, 'max_traces', 1);
      if ((traceIds === undefined) === (maxTimestampMillis === undefined)) {
        throw invalidParameter('Give exactly one of request_ids or max_timestamp_millis.');
      }
      if (maxTraces !== undefined && maxTimestampMillis === undefined) {
        throw invalidParameter('max_traces can only be given with max_timestamp_millis.');
      }
      await experiments.artifactLocation(experimentId);
      const deleted = await store.deleteTraces({
        experimentId,
        ...(traceIds !== undefined ? { traceIds } : {}),
        ...(maxTimestampMillis !== undefined ? { maxTimestampMillis } : {}),
        ...(maxTraces !== undefined ? { maxTraces } : {}),
      });
      await context.access.audit(req, 'traces.delete', `experiment ${experimentId}`, { traces_deleted: deleted, ...(traceIds !== undefined ? { trace_ids: traceIds.slice(0, 100) } : { max_timestamp_millis: maxTimestampMillis }) });
      return { traces_deleted: deleted };
    });
  }

  app.get(ApiPath.TRACE_ARTIFACT, async (req, reply) => {
    const trace = await requireTrace(requiredString(bodyObject(req.query), 'request_id'));
    return reply.type('application/octet-stream').send(await tracesJsonBody(context, trace.traceId));
  });
}

/**
 * The experiments a V3 search covers: `locations` of type MLFLOW_EXPERIMENT, as MLflow 3 sends
 * them, or a plain `experiment_ids` list, as earlier V3 clients did.
 */
function searchLocations(body: Record<string, unknown>): string[] {
  const ids: string[] = [];
  const locations = body.locations;
  if (locations !== undefined && locations !== null) {
    if (!Array.isArray(locations)) throw invalidParameter(`Invalid value for parameter 'locations': it must be a list.`);
    for (const [i, location] of locations.entries()) {
      if (!isObject(location) || location.type !== TraceLocationType.MLFLOW_EXPERIMENT || !isObject(location.mlflow_experiment)) {
        throw invalidParameter(`locations[${i}] must be {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": ...}}.`);
      }
      ids.push(parseExperimentId(location.mlflow_experiment.experiment_id, `locations[${i}].mlflow_experiment.experiment_id`));
    }
  }
  for (const id of optionalStringList(body, 'experiment_ids') ?? []) ids.push(parseExperimentId(id, 'experiment_ids'));
  if (ids.length === 0) throw invalidParameter(`Missing value for required parameter 'locations': name at least one experiment.`);
  return ids;
}

function batchIds(params: Record<string, unknown>): string[] {
  const ids = optionalStringList(params, 'trace_ids') ?? [];
  if (ids.length === 0) throw invalidParameter(`Missing value for required parameter 'trace_ids'.`);
  if (ids.length > MAX_BATCH_TRACE_IDS) throw invalidParameter(`At most ${MAX_BATCH_TRACE_IDS} trace_ids at once; got ${ids.length}.`);
  return ids;
}

/** The `traces.json` document of a trace, assembled from stored span JSON without re-parsing it. */
export async function tracesJsonBody({ store }: RouteContext, traceId: string): Promise<string> {
  const spans = await store.getSpans(traceId);
  return `{"spans":[${spans.map((s) => s.contentJson).join(',')}]}`;
}

