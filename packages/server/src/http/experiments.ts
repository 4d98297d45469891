import { ApiPath, ErrorCode, LifecycleStage, MAX_TAG_KEY_LENGTH, ViewType } from '@threadline/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, invalidParameter, notFound } from '../errors.js';
import { parseExperimentId, parseStringMap } from '../ingest/mlflow-trace-info.js';
import { RETENTION_TAG, retentionDays } from '../store/retention.js';
import type { Experiment } from '../store/store.js';
import type { RouteContext } from './app.js';
import type { Caller } from './auth/caller.js';
import { bodyObject, optionalInteger, optionalString, optionalStringList, requiredString } from './fields.js';
import { decodeOffsetToken, encodeOffsetToken } from './offset-token.js';
import { experimentJson } from './views.js';

const MAX_EXPERIMENT_NAME_CHARS = 500;
const MAX_EXPERIMENT_TAG_VALUE_CHARS = 5000;
const SEARCH_EXPERIMENTS_DEFAULT_MAX_RESULTS = 1000;
const SEARCH_EXPERIMENTS_MAX_RESULTS = 50000;

/** Experiments: create, get, get-by-name, search, update, delete, restore, set/delete tag. */
export function registerExperimentRoutes(app: FastifyInstance, { store, experiments: cache, access, accounts }: RouteContext): void {
  const requireManage = async (req: FastifyRequest, experimentId: string) => {
    const permission = await access.permission(access.callerOf(req), experimentId);
    if (permission !== 'MANAGE') throw new ApiError(ErrorCode.PERMISSION_DENIED, `Setting the retention of experiment ${experimentId} needs MANAGE; the caller has ${permission}.`);
  };
  const load = async (rawId: unknown): Promise<Experiment> => {
    const id = parseExperimentId(rawId, 'experiment_id');
    const experiment = await store.getExperiment(id);
    if (!experiment) throw notFound(`Could not find experiment with ID ${id}.`);
    return experiment;
  };

  app.post(ApiPath.EXPERIMENTS_CREATE, async (req) => {
    const body = bodyObject(req.body);
    const name = experimentName(body.name);
    const artifactLocation = optionalString(body, 'artifact_location');
    const tags = parseStringMap(body.tags, 'tags', MAX_TAG_KEY_LENGTH, MAX_EXPERIMENT_TAG_VALUE_CHARS);
    if (await store.getExperimentByName(name)) {
      throw new ApiError(ErrorCode.RESOURCE_ALREADY_EXISTS, `Experiment '${name}' already exists.`);
    }
    try {
      const experimentId = await store.createExperiment({ name, ...(artifactLocation ? { artifactLocation } : {}), tags });
      const caller = access.callerOf(req);
      if (accounts && caller.kind === 'account') {
        // Whoever creates an experiment manages it.
        await accounts.setPermission(experimentId, caller.account.accountId, 'MANAGE');
        access.changed();
        await accounts.audit(caller.account.username, 'experiment.create', `experiment ${experimentId}`, { name });
      }
      return { experiment_id: experimentId };
    } catch (error) {
      // Another replica created the same name between our check and our insert.
      if (await store.getExperimentByName(name)) throw new ApiError(ErrorCode.RESOURCE_ALREADY_EXISTS, `Experiment '${name}' already exists.`);
      throw error;
    }
  });

  app.get(ApiPath.EXPERIMENTS_GET, async (req) => ({ experiment: experimentJson(await load(bodyObject(req.query).experiment_id)) }));

  app.get(ApiPath.EXPERIMENTS_GET_BY_NAME, async (req) => {
    const name = requiredString(bodyObject(req.query), 'experiment_name');
    const experiment = await store.getExperimentByName(name);
    // One the caller may not read is as absent as one that does not exist.
    if (!experiment || !(await access.canRead(access.callerOf(req), experiment.experimentId))) throw notFound(`Could not find experiment with name '${name}'.`);
    return { experiment: experimentJson(experiment) };
  });

  const search = async (params: Record<string, unknown>, caller: Caller) => {
    const maxResults = optionalInteger(params, 'max_results', 1, SEARCH_EXPERIMENTS_MAX_RESULTS) ?? SEARCH_EXPERIMENTS_DEFAULT_MAX_RESULTS;
    const viewType = optionalString(params, 'view_type') ?? ViewType.ACTIVE_ONLY;
    if (!(viewType in ViewType)) throw invalidParameter(`Invalid view_type '${viewType}': use ACTIVE_ONLY, DELETED_ONLY or ALL.`);
    const filter = optionalString(params, 'filter');
    optionalStringList(params, 'order_by');
    const offset = decodeOffsetToken(optionalString(params, 'page_token'));
    const experiments = await store.searchExperiments({
      viewType: viewType as ViewType,
      maxResults,
      offset,
      ...(filter ? { nameLike: experimentNameFilter(filter) } : {}),
    });
    // Pages are cut before filtering, so a page may hold fewer than max_results; the token still
    // says whether more follow.
    const readable = [];
    for (const experiment of experiments) if (await access.canRead(caller, experiment.experimentId)) readable.push(experiment);
    return {
      experiments: readable.map(experimentJson),
      ...(experiments.length === maxResults ? { next_page_token: encodeOffsetToken(offset + maxResults) } : {}),
    };
  };
  app.post(ApiPath.EXPERIMENTS_SEARCH, async (req) => search(bodyObject(req.body), access.callerOf(req)));
  app.get(ApiPath.EXPERIMENTS_SEARCH, async (req) => search(bodyObject(req.query), access.callerOf(req)));

  app.post(ApiPath.EXPERIMENTS_UPDATE, async (req) => {
    const body = bodyObject(req.body);
    const experiment = await load(body.experiment_id);
    const newName = experimentName(body.new_name, 'new_name');
    const holder = await store.getExperimentByName(newName);
    if (holder && holder.experimentId !== experiment.experimentId) {
      throw new ApiError(ErrorCode.RESOURCE_ALREADY_EXISTS, `Experiment '${newName}' already exists.`);
    }
    await store.renameExperiment(experiment.experimentId, newName);
    return {};
  });

  app.post(ApiPath.EXPERIMENTS_DELETE, async (req) => {
    const experiment = await load(bodyObject(req.body).experiment_id);
    if (experiment.experimentId === '0') throw invalidParameter('The default experiment (ID 0) cannot be deleted.');
    await store.setExperimentLifecycle(experiment.experimentId, LifecycleStage.DELETED);
    cache.forget(experiment.experimentId);
    await access.audit(req, 'experiment.delete', `experiment ${experiment.experimentId}`, { name: experiment.name });
    return {};
  });

  app.post(ApiPath.EXPERIMENTS_RESTORE, async (req) => {
    const experiment = await load(bodyObject(req.body).experiment_id);
    await store.setExperimentLifecycle(experiment.experimentId, LifecycleStage.ACTIVE);
    cache.forget(experiment.experimentId);
    return {};
  });

  app.post(ApiPath.EXPERIMENTS_SET_TAG, async (req) => {
    const body = bodyObject(req.body);
    const experiment = await load(body.experiment_id);
    const tag = parseStringMap({ [requiredString(body, 'key')]: body.value ?? '' }, 'tag', MAX_TAG_KEY_LENGTH, MAX_EXPERIMENT_TAG_VALUE_CHARS);
    // A retention deletes data: only a valid number of days, and only from who manages the experiment.
    if (RETENTION_TAG in tag) {
      retentionDays(tag[RETENTION_TAG]!);
      await requireManage(req, experiment.experimentId);
    }
    for (const [key, value] of Object.entries(tag)) await store.setExperimentTag(experiment.experimentId, key, value);
    return {};
  });

  app.post(ApiPath.EXPERIMENTS_DELETE_TAG, async (req) => {
    const body = bodyObject(req.body);
    const experiment = await load(body.experiment_id);
    const key = requiredString(body, 'key');
    if (key === RETENTION_TAG) await requireManage(req, experiment.experimentId);
    await store.deleteExperimentTag(experiment.experimentId, key);
    return {};
  });
}

function experimentName(raw: unknown, field = 'name'): string {
  const name = requiredString({ [field]: raw }, field);
  if (name.length > MAX_EXPERIMENT_NAME_CHARS) throw invalidParameter(`Experiment ${field} is longer than ${MAX_EXPERIMENT_NAME_CHARS} characters.`);
  return name;
}

/**
 * The experiment filters MLflow's UI and clients send: `name = 'x'`, `name LIKE 'x%'`,
 * `name ILIKE ...` are read as a name pattern; anything else is refused rather than ignored.
 */
function experimentNameFilter(filter: string): string {
  const match = /^\s*(?:attributes\.)?name\s+(=|LIKE)\s+'((?:[^']|'')*)'\s*$/i.exec(filter);
  if (!match) throw invalidParameter(`Unsupported experiment filter '${filter}': use name = '...' or name LIKE '...'.`);
  const value = match[2]!.replace(/''/g, "'");
  return match[1] === '=' ? value.replace(/[\\%_]/g, '\\$&') : value;
}
