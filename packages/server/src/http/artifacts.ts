import { ErrorCode, TRACE_DATA_FILE_NAME } from '@threadline/protocol';
import type { FastifyInstance } from 'fastify';
import { ApiError, invalidParameter, notFound } from '../errors.js';
import { parseMlflowSpans } from '../ingest/mlflow-spans.js';
import { TRACE_ID_SOURCE } from '../ingest/mlflow-trace-info.js';
import { TraceNotFoundError } from '../store/kysely-store.js';
import type { RouteContext } from './app.js';
import { tracesJsonBody } from './traces.js';

const ARTIFACTS_ROOT = '/2.0/mlflow-artifacts/artifacts';
const TRACE_DATA_PATH = new RegExp(`^(\\d+)/traces/(${TRACE_ID_SOURCE})/artifacts/${TRACE_DATA_FILE_NAME.replace('.', '\\.')}$`);

/**
 * The artifact proxy paths the MLflow SDKs use for span data. Spans are kept in the database, not
 * in files: a PUT of `<exp>/traces/<id>/artifacts/traces.json` stores them, a GET serves them back.
 * No other artifact is stored.
 */
export function registerArtifactRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store } = context;

  app.put<{ Params: { '*': string } }>(`${ARTIFACTS_ROOT}/*`, async (req) => {
    const { experimentId, traceId } = parseTraceDataPath(req.params['*']);
    let result;
    try {
      result = await store.logSpans(traceId, parseMlflowSpans(traceId, req.body), { experimentId });
    } catch (error) {
      if (error instanceof TraceNotFoundError) throw traceNotFound(traceId, experimentId);
      throw error;
    }
    if (result.kind === 'span-conflict') {
      throw new ApiError(
        ErrorCode.RESOURCE_CONFLICT,
        `Trace '${traceId}' already has span(s) ${result.spanIds.map((id) => `'${id}'`).join(', ')} with other content; stored spans cannot be rewritten. Nothing was changed.`,
      );
    }
    return {};
  });

  app.get<{ Params: { '*': string } }>(`${ARTIFACTS_ROOT}/*`, async (req, reply) => {
    const { experimentId, traceId } = parseTraceDataPath(req.params['*']);
    const trace = await store.getTrace(traceId);
    if (!trace || trace.experimentId !== experimentId) throw traceNotFound(traceId, experimentId);
    return reply.type('application/json').send(await tracesJsonBody(context, traceId));
  });
}

function parseTraceDataPath(path: string): { experimentId: string; traceId: string } {
  const match = TRACE_DATA_PATH.exec(path);
  if (!match) {
    throw invalidParameter(`Threadline keeps only trace data; expected an artifact path '<experiment_id>/traces/<trace_id>/artifacts/${TRACE_DATA_FILE_NAME}', got '${path}'.`);
  }
  return { experimentId: String(Number(match[1])), traceId: match[2]! };
}

function traceNotFound(traceId: string, experimentId: string) {
  return notFound(`Trace '${traceId}' not found in experiment ${experimentId}; log its info (POST /api/3.0/mlflow/traces) before its spans.`);
}
