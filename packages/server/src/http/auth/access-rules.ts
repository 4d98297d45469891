import { API_PREFIXES, ApiPath, FEEDBACK_METRICS_PATH, FILTER_SUGGESTIONS_PATH, FILTER_VALUES_PATH, LIVE_EVENTS_PATH, MODEL_METRICS_PATH, TRACE_METRICS_PATH } from '@threadline/protocol';
import type { Permission } from '../../store/accounts.js';
import {
  artifactExperiment,
  experimentField,
  loggedTraceExperiment,
  otlpExperiment,
  searchedExperiments,
  tracesExperiments,
  type Access,
  type Locator,
} from './access.js';

/**
 * Who may call each route, in one table, so that the whole policy reads in one place and a new
 * route without a line here fails at start-up (AccessControl.install). Paths are Fastify's route
 * URLs without the `/api` or `/ajax-api` prefix.
 *
 * What each experiment permission allows (MLflow's names):
 * - READ: read experiments, traces and their spans, sessions, users, metrics;
 * - USE: also log traces (MLflow REST, span uploads, OTLP), change trace tags and add, change or
 *   delete assessments of traces and sessions;
 * - EDIT: also delete traces and change the experiment (rename, tags, restore);
 * - MANAGE: also delete the experiment and grant permissions on it.
 * Admins may do everything; any signed-in account may create an experiment, and manages it.
 */
const PUBLIC: Access = { kind: 'public' };
const SIGNED_IN: Access = { kind: 'signed-in' };
const ADMIN: Access = { kind: 'admin' };
const needs = (need: Permission, locate: Locator): Access => ({ kind: 'experiment', need, locate });

const path = (template: string) => template.replace(/\{(\w+)\}/g, ':$1');

const API_RULES: [method: string, url: string, access: Access][] = [
  ['POST', ApiPath.EXPERIMENTS_CREATE, SIGNED_IN],
  ['GET', ApiPath.EXPERIMENTS_GET, needs('READ', experimentField)],
  // By name: the handler answers 404 for an experiment the caller may not read.
  ['GET', ApiPath.EXPERIMENTS_GET_BY_NAME, SIGNED_IN],
  // Lists: the handler leaves out what the caller may not read.
  ['POST', ApiPath.EXPERIMENTS_SEARCH, SIGNED_IN],
  ['GET', ApiPath.EXPERIMENTS_SEARCH, SIGNED_IN],
  ['POST', ApiPath.EXPERIMENTS_UPDATE, needs('EDIT', experimentField)],
  ['POST', ApiPath.EXPERIMENTS_DELETE, needs('MANAGE', experimentField)],
  ['POST', ApiPath.EXPERIMENTS_RESTORE, needs('EDIT', experimentField)],
  ['POST', ApiPath.EXPERIMENTS_SET_TAG, needs('EDIT', experimentField)],
  ['POST', ApiPath.EXPERIMENTS_DELETE_TAG, needs('EDIT', experimentField)],

  ['POST', ApiPath.TRACES_START_V3, needs('USE', loggedTraceExperiment)],
  ['GET', path(ApiPath.TRACES_GET_INFO_V3), needs('READ', tracesExperiments)],
  ['GET', ApiPath.TRACES_GET_V3, needs('READ', tracesExperiments)],
  ['GET', ApiPath.TRACES_BATCH_GET_V3, needs('READ', tracesExperiments)],
  ['POST', ApiPath.TRACES_BATCH_GET_INFOS_V3, needs('READ', tracesExperiments)],
  ['POST', ApiPath.TRACES_SEARCH_V3, needs('READ', searchedExperiments)],
  ['POST', ApiPath.TRACES_METRICS_V3, needs('READ', searchedExperiments)],
  ['GET', ApiPath.TRACES_SEARCH_V2, needs('READ', searchedExperiments)],
  ['GET', path(ApiPath.TRACES_GET_INFO_V2), needs('READ', tracesExperiments)],
  ['POST', ApiPath.TRACES_DELETE_V3, needs('EDIT', experimentField)],
  ['POST', ApiPath.TRACES_DELETE_V2, needs('EDIT', experimentField)],
  ['GET', ApiPath.TRACE_ARTIFACT, needs('READ', tracesExperiments)],
  ['POST', path(ApiPath.ASSESSMENTS_CREATE), needs('USE', tracesExperiments)],
  ['GET', path(ApiPath.ASSESSMENT), needs('READ', tracesExperiments)],
  ['PATCH', path(ApiPath.ASSESSMENT), needs('USE', tracesExperiments)],
  ['DELETE', path(ApiPath.ASSESSMENT), needs('USE', tracesExperiments)],
  ['PUT', ApiPath.ARTIFACTS, needs('USE', artifactExperiment)],
  ['GET', ApiPath.ARTIFACTS, needs('READ', artifactExperiment)],

  ['POST', ApiPath.SESSIONS_SEARCH, needs('READ', experimentField)],
  ['GET', path(ApiPath.SESSION_TRACES), needs('READ', experimentField)],
  ['POST', path(ApiPath.SESSION_ASSESSMENTS), needs('USE', experimentField)],
  ['GET', path(ApiPath.SESSION_ASSESSMENTS), needs('READ', experimentField)],
  ['GET', path(ApiPath.SESSION_ASSESSMENT), needs('READ', experimentField)],
  ['PATCH', path(ApiPath.SESSION_ASSESSMENT), needs('USE', experimentField)],
  ['DELETE', path(ApiPath.SESSION_ASSESSMENT), needs('USE', experimentField)],
  ['POST', ApiPath.USERS_SEARCH, needs('READ', experimentField)],
  // Keys and ids are read from the experiment's traces and rollups: the same right as reading them.
  ['GET', path(FILTER_SUGGESTIONS_PATH), needs('READ', experimentField)],
  ['GET', path(FILTER_VALUES_PATH), needs('READ', experimentField)],
  // Event streams say which traces changed, never what they hold; the rest is read with the same rights.
  ['GET', path(LIVE_EVENTS_PATH), needs('READ', experimentField)],
  ['POST', TRACE_METRICS_PATH, needs('READ', experimentField)],
  ['POST', FEEDBACK_METRICS_PATH, needs('READ', experimentField)],
  ['POST', MODEL_METRICS_PATH, needs('READ', experimentField)],
];

/** Trace tag routes are registered for both API versions under each one's id parameter name. */
for (const template of [ApiPath.TRACES_TAGS_V3, ApiPath.TRACES_TAGS_V2]) {
  const url = template.replace(/\{\w+\}/, ':id');
  API_RULES.push(['PATCH', url, needs('USE', tracesExperiments)], ['DELETE', url, needs('USE', tracesExperiments)]);
}

/** Routes outside the API prefixes. */
const ROOT_RULES: [method: string, url: string, access: Access][] = [
  ['GET', '/health', PUBLIC],
  ['GET', '/health/ready', PUBLIC],
  ['GET', '/version', PUBLIC],
  ['POST', '/v1/traces', needs('USE', otlpExperiment)],
  // The UI's files are public; the data they show comes from the API, which checks.
  ['GET', '/', PUBLIC],
  ['GET', '/*', PUBLIC],
];

const rules = new Map<string, Access>();
for (const [method, url, access] of ROOT_RULES) rules.set(`${method} ${url}`, access);
for (const [method, url, access] of API_RULES) for (const prefix of API_PREFIXES) rules.set(`${method} ${prefix}${url}`, access);

/** Adds the rules of routes that a module registers itself (account routes, for instance). */
export function addAccessRules(entries: readonly [method: string, url: string, access: Access][], options: { underApiPrefixes: boolean }): void {
  for (const [method, url, access] of entries) {
    if (options.underApiPrefixes) for (const prefix of API_PREFIXES) rules.set(`${method} ${prefix}${url}`, access);
    else rules.set(`${method} ${url}`, access);
  }
}

/** Every rule, keyed `METHOD url`: what a test walks to try each route. */
export function registeredAccessRules(): [key: string, access: Access][] {
  return [...rules];
}

/** The rule of a route, by method and Fastify route URL (prefix included). */
export function accessRuleOf(method: string, url: string): Access | undefined {
  return rules.get(`${method} ${url}`);
}

export { ADMIN, PUBLIC, SIGNED_IN };
