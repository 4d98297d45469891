import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, ViewType, type ErasureJson } from '@threadline/protocol';
import { ApiError, invalidParameter, notFound } from '../errors.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import type { ErasureKind, ErasureReceipt } from '../store/erasures.js';
import { refuseNul } from '../text.js';
import type { RouteContext } from './app.js';
import { experimentField } from './auth/access.js';
import { addAccessRules, SIGNED_IN } from './auth/access-rules.js';
import { actorOf } from './auth/caller.js';
import { bodyObject, optionalInteger } from './fields.js';

export const ErasurePath = {
  USER: '/threadline/users/:user_id/erase',
  SESSION: '/threadline/sessions/:session_id/erase',
  ONE: '/threadline/erasures/:erasure_id',
  LIST: '/threadline/erasures',
} as const;

// An erase needs MANAGE on the experiment it names; a user's erase across experiments names none
// and covers those the caller manages (the handler picks them). Receipts: see the handlers.
addAccessRules(
  [
    ['POST', ErasurePath.USER, { kind: 'experiment', need: 'MANAGE', locate: experimentField }],
    ['POST', ErasurePath.SESSION, { kind: 'experiment', need: 'MANAGE', locate: experimentField }],
    ['GET', ErasurePath.ONE, SIGNED_IN],
    ['GET', ErasurePath.LIST, SIGNED_IN],
  ],
  { underApiPrefixes: true },
);

/** How long a request waits for its erase; a longer one answers 202 and goes on (GET shows it). */
const WAIT_MS = 20_000;
/** Experiments a user's erase covers at most when it names none. */
const MAX_EXPERIMENTS = 10_000;

export function erasureJson(r: ErasureReceipt): ErasureJson {
  return {
    erasure_id: r.erasureId,
    kind: r.kind,
    subject_digest: r.subjectDigest,
    experiment_ids: r.experimentIds,
    requested_by: r.requestedBy,
    requested_time_ms: r.requestedTimeMs,
    completed_time_ms: r.completedTimeMs,
    state: r.state,
    counts: r.counts,
    trace_ids_digest: r.traceIdsDigest,
  };
}

/**
 * `POST /api/threadline/users/{user_id}/erase` and `/sessions/{session_id}/erase`: every trace of
 * the user or session, with all that is theirs, deleted in bounded batches; answered with the
 * receipt (200 once complete, 202 while it still runs). `GET /api/threadline/erasures/{id}` and
 * `GET /api/threadline/erasures` show receipts, which hold none of the erased data.
 */
export function registerErasureRoutes(app: FastifyInstance, { store, access }: RouteContext): void {
  const erase = async (req: FastifyRequest, kind: ErasureKind, subject: string, experimentIds: string[], reply: FastifyReply) => {
    refuseNul(subject, `The ${kind} id`);
    if (subject.trim() === '') throw invalidParameter(`The ${kind} id must not be empty.`);
    const erasureId = await store.erasures.start(kind, subject, experimentIds, actorOf(access.callerOf(req)));
    await access.audit(req, `${kind}.erase`, erasureId, { experiment_ids: experimentIds });
    // The erase goes on if the client leaves; a failure leaves it for resumeUnfinished to finish.
    const running = store.erasures.run(erasureId).catch((error: unknown) => {
      app.log.error({ err: error, erasureId }, 'an erase stopped; it resumes once its lease lapses');
      return undefined;
    });
    const done = await Promise.race([running, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), WAIT_MS).unref())]);
    const receipt = done ?? (await store.erasures.get(erasureId))!;
    return reply.status(receipt.state === 'complete' ? 200 : 202).send({ erasure: erasureJson(receipt) });
  };

  app.post<{ Params: { user_id: string } }>(ErasurePath.USER, async (req, reply) => {
    const body = bodyObject(req.body ?? {});
    const caller = access.callerOf(req);
    let experimentIds: string[];
    if (body.experiment_id !== undefined) {
      experimentIds = [parseExperimentId(body.experiment_id, 'experiment_id')];
      await store.getExperiment(experimentIds[0]!).then((e) => {
        if (!e) throw notFound(`No experiment with id ${experimentIds[0]}.`);
      });
    } else {
      const all = await store.searchExperiments({ viewType: ViewType.ALL, maxResults: MAX_EXPERIMENTS, offset: 0 });
      experimentIds = [];
      for (const e of all) if ((await access.permission(caller, e.experimentId)) === 'MANAGE') experimentIds.push(e.experimentId);
      if (experimentIds.length === 0) throw new ApiError(ErrorCode.PERMISSION_DENIED, 'The caller manages no experiment to erase the user from.');
    }
    return erase(req, 'user', req.params.user_id, experimentIds, reply);
  });

  app.post<{ Params: { session_id: string } }>(ErasurePath.SESSION, async (req, reply) => {
    const body = bodyObject(req.body ?? {});
    if (body.experiment_id === undefined) throw invalidParameter("Missing value for required parameter 'experiment_id'.");
    const experimentId = parseExperimentId(body.experiment_id, 'experiment_id');
    if (!(await store.getExperiment(experimentId))) throw notFound(`No experiment with id ${experimentId}.`);
    return erase(req, 'session', req.params.session_id, [experimentId], reply);
  });

  // A receipt is shown to whoever may read one of its experiments.
  const readable = async (caller: ReturnType<typeof access.callerOf>, receipt: ErasureReceipt) => {
    for (const id of receipt.experimentIds) if (await access.canRead(caller, id)) return true;
    return false;
  };

  app.get<{ Params: { erasure_id: string } }>(ErasurePath.ONE, async (req) => {
    const receipt = await store.erasures.get(req.params.erasure_id);
    if (!receipt || !(await readable(access.callerOf(req), receipt))) throw notFound(`No erasure with id '${req.params.erasure_id}'.`);
    return { erasure: erasureJson(receipt) };
  });

  app.get<{ Querystring: Record<string, unknown> }>(ErasurePath.LIST, async (req) => {
    const query = req.query ?? {};
    const limit = optionalInteger(query, 'max_results', 1, 1000) ?? 100;
    const experimentId = query.experiment_id === undefined ? undefined : parseExperimentId(query.experiment_id, 'experiment_id');
    const caller = access.callerOf(req);
    const receipts = await store.erasures.list({ limit: 1000, ...(experimentId !== undefined ? { experimentIds: [experimentId] } : {}) });
    const shown: ErasureReceipt[] = [];
    for (const r of receipts) {
      if (shown.length >= limit) break;
      if (await readable(caller, r)) shown.push(r);
    }
    return { erasures: shown.map(erasureJson) };
  });
}
