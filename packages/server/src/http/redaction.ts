import type { FastifyInstance } from 'fastify';
import { invalidParameter } from '../errors.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import { parseRulesJson, RedactionRuleError, type RedactionRules } from '../redaction/rules.js';
import type { StoredRedactionRules } from '../store/redaction-rules.js';
import type { RouteContext } from './app.js';
import { experimentField } from './auth/access.js';
import { addAccessRules } from './auth/access-rules.js';
import { actorOf } from './auth/caller.js';

export const RedactionPath = {
  EXPERIMENT: '/threadline/experiments/:experiment_id/redaction',
} as const;

// What is redacted in an experiment is its managers' business, as its permissions are.
const MANAGE_EXPERIMENT = { kind: 'experiment', need: 'MANAGE', locate: experimentField } as const;
addAccessRules(
  [
    ['GET', RedactionPath.EXPERIMENT, MANAGE_EXPERIMENT],
    ['PUT', RedactionPath.EXPERIMENT, MANAGE_EXPERIMENT],
  ],
  { underApiPrefixes: true },
);

export interface RedactionRulesJson {
  detectors: string[];
  patterns: { name: string; pattern: string }[];
}

export interface ExperimentRedactionJson {
  experiment_id: string;
  /** The experiment's own rules, applied on top of the server's. */
  rules: RedactionRulesJson;
  /** The server's rules (`--redact`), which apply to every experiment; its patterns by name only. */
  server_rules: { detectors: string[]; patterns: { name: string }[] };
  updated_time_ms?: number;
  updated_by?: string;
}

function redactionJson(experimentId: string, stored: StoredRedactionRules | undefined, server: RedactionRules): ExperimentRedactionJson {
  const rules = stored?.rules ?? { detectors: [], patterns: [] };
  return {
    experiment_id: experimentId,
    rules: { detectors: [...rules.detectors], patterns: rules.patterns.map(({ name, pattern }) => ({ name, pattern })) },
    server_rules: { detectors: [...server.detectors], patterns: server.patterns.map(({ name }) => ({ name })) },
    ...(stored ? { updated_time_ms: stored.updatedTimeMs, updated_by: stored.updatedBy } : {}),
  };
}

/**
 * An experiment's own redaction rules: `GET` and `PUT /api/threadline/experiments/{id}/redaction`
 * with `{"detectors": [...], "patterns": [{"name", "pattern"}]}`. A PUT replaces the rules whole
 * (`{}` removes them); they apply to what is logged afterwards, on this replica at once and on
 * others within REDACTION_RULES_REFRESH_MS. Nothing already stored is changed.
 */
export function registerRedactionRoutes(app: FastifyInstance, { store, experiments, access, redaction }: RouteContext): void {
  const experimentOf = async (raw: string): Promise<string> => {
    const experimentId = parseExperimentId(raw, 'experiment_id');
    await experiments.artifactLocation(experimentId);
    return experimentId;
  };

  app.get<{ Params: { experiment_id: string } }>(RedactionPath.EXPERIMENT, async (req) => {
    const experimentId = await experimentOf(req.params.experiment_id);
    return redactionJson(experimentId, await store.redactionRules.get(experimentId), redaction.serverRules);
  });

  app.put<{ Params: { experiment_id: string } }>(RedactionPath.EXPERIMENT, async (req) => {
    const experimentId = await experimentOf(req.params.experiment_id);
    let rules: RedactionRules;
    try {
      rules = parseRulesJson(req.body ?? {});
    } catch (error) {
      if (error instanceof RedactionRuleError) throw invalidParameter(error.message);
      throw error;
    }
    const stored: StoredRedactionRules = { rules, updatedTimeMs: Date.now(), updatedBy: actorOf(access.callerOf(req)) };
    await store.redactionRules.set(experimentId, stored);
    redaction.invalidate();
    await access.audit(req, 'experiment.redaction', `experiment ${experimentId}`, { detectors: rules.detectors, patterns: rules.patterns.map((p) => p.name) });
    return redactionJson(experimentId, await store.redactionRules.get(experimentId), redaction.serverRules);
  });
}
