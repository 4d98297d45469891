import { API_PREFIXES } from '@threadline/protocol';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ApiError } from '../errors.js';
import { parseJsonBody } from '../ingest/json-body.js';
import { TraceNotFoundError } from '../store/kysely-store.js';
import type { TraceStore } from '../store/store.js';
import { registerArtifactRoutes } from './artifacts.js';
import { registerAssessmentRoutes } from './assessments.js';
import type { AccountStore } from '../store/accounts.js';
import { AccessControl, type AuthOptions } from './auth/access.js';
import { accessRuleOf } from './auth/access-rules.js';
import { registerAccountRoutes } from './auth/account-routes.js';
import { limitConcurrentBodies } from './body-budget.js';
import { secureEdge, type EdgeSecurityOptions } from './edge-security.js';
import { failureReply, STORE_RETRY_AFTER_SECONDS } from './failures.js';
import { ReadinessCheck } from './readiness.js';
import { ExperimentCache } from './experiment-cache.js';
import { registerMetricsRoutes } from './metrics.js';
import { registerPriceRoutes } from './prices.js';
import { registerErasureRoutes } from './erasures.js';
import { registerRedactionRoutes } from './redaction.js';
import { RedactionPolicy } from '../redaction/redaction-policy.js';
import { withRedaction } from '../redaction/redacting-store.js';
import { checkedRules, NO_REDACTION, type RedactionRules } from '../redaction/rules.js';
import { registerMlflowMetricsRoutes } from './mlflow-metrics.js';
import { registerExperimentRoutes } from './experiments.js';
import { registerFilterSuggestionRoutes } from './filter-suggestions.js';
import { LiveStreams, registerLiveRoutes, type LiveOptions } from './live-events.js';
import { registerOtlpRoutes, type OtlpOptions } from './otlp.js';
import { registerSessionRoutes } from './sessions.js';
import { registerTraceRoutes } from './traces.js';
import { registerUiRoutes, type UiOptions } from './ui.js';
import { registerUserRoutes } from './users.js';

export interface AppOptions {
  store: TraceStore;
  /** Largest request body accepted, in bytes; larger ones get 413. Default 64 MiB. */
  bodyLimitBytes?: number;
  /** Fastify's logger option (pino); off by default so that library use stays quiet. */
  logger?: FastifyServerOptions['logger'];
  /** `POST /v1/traces` limits: body size after decompression, concurrent requests. */
  otlp?: OtlpOptions;
  /** The built web UI served at `/`; `{ distDir: false }` serves none. */
  ui?: UiOptions;
  /** Time and memory limits on what clients send; defaults suit a server on the open network. */
  limits?: ClientLimits;
  /** Which hosts and web origins the server answers; safe for a laptop when left out. */
  edge?: EdgeSecurityOptions;
  /** Accounts and per-experiment permissions; without it every caller may do everything. */
  auth?: AuthOptions;
  /**
   * What to redact from every trace before it is stored, in every experiment (each may add rules
   * of its own through `/api/threadline/experiments/{id}/redaction`). Default: nothing.
   */
  redaction?: RedactionRules;
  /** Live updates (server-sent events): how many streams, how often. */
  live?: LiveOptions;
}

/** How long a client may take to send a request, and how much it may send at once. */
export interface ClientLimits {
  /** Time to send a request's headers; a client that takes longer is disconnected. Default 10 000 ms. */
  headersTimeoutMillis?: number;
  /** Time to send a whole request, body included; a slower one is answered 408. Default 60 000 ms. */
  requestTimeoutMillis?: number;
  /** A connection that sends and receives nothing this long is closed. Default 120 000 ms. */
  idleTimeoutMillis?: number;
  /** Request body bytes held at once, over all requests; past it, 503 with Retry-After. Default 256 MiB. */
  maxConcurrentBodyBytes?: number;
}

/** What every route module receives. */
export interface RouteContext {
  /** The store with every write of trace content redacted first (redaction/redacting-store.ts). */
  store: TraceStore;
  experiments: ExperimentCache;
  access: AccessControl;
  /** The account store while auth is on. */
  accounts: AccountStore | undefined;
  /** Which redaction rules apply where. */
  redaction: RedactionPolicy;
  /** This process's live event streams. */
  live: LiveStreams;
}

const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024 * 1024;
const DEFAULT_LIMITS: Required<ClientLimits> = {
  headersTimeoutMillis: 10_000,
  requestTimeoutMillis: 60_000,
  idleTimeoutMillis: 120_000,
  maxConcurrentBodyBytes: 256 * 1024 * 1024,
};

/**
 * The tracking server's HTTP application: MLflow's REST API under `/api/` and `/ajax-api/`,
 * plus `/health`. Errors of every kind leave as MLflow's `{"error_code", "message"}` body.
 *
 * @example
 * const app = await createApp({ store: await createStore('sqlite:///threadline.db') });
 * await app.listen({ port: 5000 });
 */
export async function createApp(options: AppOptions): Promise<FastifyInstance> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const bodyLimitBytes = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: bodyLimitBytes,
    // Slow clients (half-sent headers or bodies, idle sockets) are cut off, so that a few
    // thousand of them cannot hold the server's connections and memory. Node checks these
    // deadlines every connectionsCheckingInterval, by default only every 30 s.
    http: {
      headersTimeout: Math.min(limits.headersTimeoutMillis, limits.requestTimeoutMillis),
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMillis / 2)),
    },
    requestTimeout: limits.requestTimeoutMillis,
    connectionTimeout: limits.idleTimeoutMillis,
    // MLflow clients join tracking URI and path as strings: a trailing slash gives `//`.
    routerOptions: { ignoreDuplicateSlashes: true },
  });

  // Bodies are JSON. A POST must also say so (secureEdge); other methods are read as JSON
  // whatever they declare: clients upload span data with PUT as a file (octet-stream or none).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, (body as string).length === 0 ? undefined : parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  secureEdge(app, options.edge);
  // Before any route: the access check covers every route, and refuses to register one without a rule.
  const access = new AccessControl(options.auth, options.store);
  access.install(app, accessRuleOf);
  limitConcurrentBodies(app, { maxBytes: limits.maxConcurrentBodyBytes, bodyLimitBytes });

  app.setErrorHandler((error: FastifyError | ApiError | TraceNotFoundError, request, reply) => {
    const { status, body, retryAfterSeconds } = failureReply(error);
    if (status === 500) request.log.error({ err: error }, 'request failed');
    else if (status >= 500) request.log.warn({ err: error }, 'request refused for now');
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error_code: 'ENDPOINT_NOT_FOUND', message: `No API endpoint for ${request.method} ${request.url.split('?')[0]}.` });
  });

  // Liveness: the process answers. Readiness: it can also reach its database, so a load
  // balancer sends traffic elsewhere while a database fails over or restarts.
  app.get('/health', async (_req, reply) => reply.type('text/plain').send('OK'));
  const readiness = new ReadinessCheck(options.store);
  app.get('/health/ready', async (_req, reply) => {
    const problem = await readiness.problem();
    if (problem === undefined) return reply.type('text/plain').send('OK');
    return reply.status(503).header('retry-after', String(STORE_RETRY_AFTER_SECONDS)).type('text/plain').send(`Not ready: ${problem}`);
  });
  app.get('/version', async (_req, reply) => reply.type('text/plain').send(SERVER_VERSION));

  const redaction = new RedactionPolicy(checkedRules(options.redaction ?? NO_REDACTION), options.store.redactionRules);
  const live = new LiveStreams(options.store.changes, options.live);
  // Open event streams would keep close() waiting for ever; they end first (clients reconnect elsewhere).
  app.addHook('preClose', async () => live.closeAll());
  const context: RouteContext = {
    store: withRedaction(options.store, redaction),
    experiments: new ExperimentCache(options.store),
    access,
    accounts: options.auth?.accounts,
    redaction,
    live,
  };
  for (const prefix of API_PREFIXES) {
    await app.register(
      async (scope) => {
        registerExperimentRoutes(scope, context);
        registerTraceRoutes(scope, context);
        registerAssessmentRoutes(scope, context);
        registerArtifactRoutes(scope, context);
        registerSessionRoutes(scope, context);
        registerLiveRoutes(scope, context);
        registerUserRoutes(scope, context);
        registerFilterSuggestionRoutes(scope, context);
        registerMetricsRoutes(scope, context);
        registerPriceRoutes(scope, context);
        registerErasureRoutes(scope, context);
        registerRedactionRoutes(scope, context);
        registerMlflowMetricsRoutes(scope, context);
        registerAccountRoutes(scope, access, options.auth?.accounts);
      },
      { prefix },
    );
  }
  // OTLP/HTTP at the root, as exporters expect; its own scope reads raw (maybe compressed) bodies.
  await app.register(async (scope) => registerOtlpRoutes(scope, context, options.otlp));
  // The web UI at `/`, with client routes falling back to its index.html (never under the API paths).
  await app.register(async (scope) => registerUiRoutes(scope, options.ui));
  return app;
}

export const SERVER_VERSION = '0.1.0';
