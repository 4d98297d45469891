import { TRACE_DATA_FILE_NAME } from '@threadline/protocol';
import type { FastifyInstance } from 'fastify';
import { invalidParameter, notFound } from '../errors.js';
import { parseMlflowSpans } from '../ingest/mlflow-spans.js';
import type { RouteContext } from './app.js';
import { tracesJsonBody } from './traces.js';

const ARTIFACTS_ROOT = '/2.0/mlflow-artifacts/artifacts';
const TRACE_DATA_PATH = new RegExp(`^(\\d+)/traces/(tr-[0-9a-f]{32})/artifacts/${TRACE_DATA_FILE_NAME.replace('.', '\\.')}$`);

/**
 * The artifact proxy paths the MLflow SDKs use for span data. Spans are kept in the database, not
 * in files: a PUT of `<exp>/traces/<id>/artifacts/traces.json` stores them, a GET serves them back.
 * No other artifact is stored.
 */
export function registerArtifactRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store } = context;

  const traceOfPath = async (path: string) => {
    const match = TRACE_DATA_PATH.exec(path);
    if (!match) {
      throw invalidParameter(`Threadline keeps only trace data; expected an artifact path '<experiment_id>/traces/<trace_id>/artifacts/${TRACE_DATA_FILE_NAME}', got '${path}'.`);
    }
    const [, experimentId, traceId] = match as unknown as [string, string, string];
    const trace = await store.getTrace(traceId);
    if (!trace || trace.experimentId !== String(Number(experimentId))) {
      throw notFound(`Trace '${traceId}' not found in experiment ${experimentId}; log its info (POST /api/3.0/mlflow/traces) before its spans.`);
    }
    return trace;
  };

  app.put<{ Params: { '*': string } }>(`${ARTIFACTS_ROOT}/*`, async (req) => {
    const trace = await traceOfPath(req.params['*']);
    await store.logSpans(trace.traceId, parseMlflowSpans(trace.traceId, req.body));
    return {};
  });

  app.get<{ Params: { '*': string } }>(`${ARTIFACTS_ROOT}/*`, async (req, reply) => {
    const trace = await traceOfPath(req.params['*']);
    return reply.type('application/json').send(await tracesJsonBody(context, trace.traceId));
  });
}
