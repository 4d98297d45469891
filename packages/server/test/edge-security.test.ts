import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../src/http/app.js';
import { hostOf, type EdgeSecurityOptions } from '../src/http/edge-security.js';
import { sqliteDatabase, type TestStore } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest } from './support/otlp-payloads.js';

/**
 * What a hostile web page could do to a server on the developer's laptop, each now refused:
 * a cross-origin `text/plain` POST (no preflight) that deleted every trace, a foreign `Origin`,
 * a foreign `Host` (DNS rebinding), and an OTLP content type that merely contains
 * `application/json`. The clients the server is for keep working.
 */
const EVIL = 'http://evil.example';
const SEARCH = { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }] };

async function openApp(edge?: EdgeSecurityOptions): Promise<{ app: FastifyInstance; opened: TestStore }> {
  const opened = await sqliteDatabase.open();
  return { app: await createApp({ store: opened.store, ui: { distDir: false }, ...(edge ? { edge } : {}) }), opened };
}

describe('the server on a laptop, with no configuration', () => {
  let app: FastifyInstance;
  let opened: TestStore;
  const traceIds = [newTraceId(), newTraceId()];

  beforeAll(async () => {
    ({ app, opened } = await openApp());
    for (const traceId of traceIds) {
      const created = await app.inject({ method: 'POST', url: '/api/3.0/mlflow/traces', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(startTraceBody({ traceId })) });
      expect(created.statusCode).toBe(200);
    }
  });
  afterAll(async () => {
    await app.close();
    await opened.close();
  });

  const stored = async () => (await opened.store.getTraces(traceIds)).length;

  it('refuses a cross-origin text/plain POST (no preflight needed) that would delete every trace', async () => {
    const reply = await app.inject({
      method: 'POST',
      url: '/api/3.0/mlflow/traces/delete-traces',
      headers: { 'content-type': 'text/plain;charset=UTF-8', origin: EVIL },
      payload: JSON.stringify({ experiment_id: '0', max_timestamp_millis: Date.now() + 1e9 }),
    });
    expect(reply.statusCode).toBe(403);
    expect(reply.json()).toMatchObject({ error_code: 'PERMISSION_DENIED' });
    expect(await stored()).toBe(2);
  });

  it('refuses a text/plain or form body even without an Origin, for creates as well as deletes', async () => {
    for (const [url, payload] of [
      ['/api/3.0/mlflow/traces/delete-traces', { experiment_id: '0', request_ids: traceIds }],
      ['/api/3.0/mlflow/traces', startTraceBody({ traceId: newTraceId() })],
      ['/api/2.0/mlflow/experiments/create', { name: 'planted' }],
    ] as const) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain; x=application/json']) {
        const reply = await app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload: JSON.stringify(payload) });
        expect(reply.statusCode, `${url} as ${type}`).toBe(415);
        expect(reply.json().message).toMatch(/application\/json/);
      }
    }
    expect(await stored()).toBe(2);
    expect(await opened.store.getExperimentByName('planted')).toBeUndefined();
  });

  it('refuses a state-changing request whose Origin is another site, and takes one from its own pages', async () => {
    const foreign = await app.inject({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${traceIds[0]}/tags`, headers: { 'content-type': 'application/json', origin: EVIL }, payload: JSON.stringify({ key: 'k', value: 'v' }) });
    expect(foreign.statusCode).toBe(403);
    const own = await app.inject({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${traceIds[0]}/tags`, headers: { 'content-type': 'application/json', origin: 'http://localhost:5000', host: 'localhost:5000' }, payload: JSON.stringify({ key: 'k', value: 'v' }) });
    expect(own.statusCode).toBe(200);
    const nullOrigin = await app.inject({ method: 'POST', url: '/api/3.0/mlflow/traces/search', headers: { 'content-type': 'application/json', origin: 'null' }, payload: JSON.stringify(SEARCH) });
    expect(nullOrigin.statusCode).toBe(403);
  });

  it('refuses a foreign Host (DNS rebinding), for the API and the UI alike', async () => {
    for (const host of ['evil.example', 'evil.example:5000', '192.168.1.20:5000', '[2001:db8::1]:5000']) {
      for (const [method, url] of [['GET', `/api/3.0/mlflow/traces/${traceIds[0]}`], ['GET', '/'], ['GET', '/health']] as const) {
        const reply = await app.inject({ method, url, headers: { host } });
        expect(reply.statusCode, `${method} ${url} with Host ${host}`).toBe(403);
      }
    }
    for (const host of ['localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000', 'app.localhost:5000']) {
      expect((await app.inject({ method: 'GET', url: '/health', headers: { host } })).statusCode, host).toBe(200);
    }
  });

  it('refuses an OTLP body whose Content-Type only contains application/json, and takes the real ones', async () => {
    const body = JSON.stringify(otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId() }]));
    const disguised = await app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'text/plain; x=application/json' }, payload: body });
    expect(disguised.statusCode).toBe(415);
    const json = await app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: body });
    expect(json.statusCode).toBe(200);
  });

  it('sends nosniff, no framing and no referrer on every reply, errors included', async () => {
    for (const url of ['/health', `/api/3.0/mlflow/traces/${traceIds[0]}`, '/api/3.0/mlflow/traces/tr-00000000000000000000000000000000', '/no/such/path']) {
      const reply = await app.inject({ method: 'GET', url });
      expect(reply.headers, url).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'cross-origin-resource-policy': 'same-origin' });
    }
  });
});

describe('the server with its public names configured', () => {
  it('answers the configured hosts and origins, and a server on all addresses answers its machine name', async () => {
    const { app, opened } = await openApp({ listenHost: '0.0.0.0', allowedHosts: ['threadline.internal'], allowedOrigins: ['https://app.example.com'] });
    try {
      for (const host of ['threadline.internal', 'threadline.internal:443', `${hostname()}:5000`]) {
        expect((await app.inject({ method: 'GET', url: '/health', headers: { host } })).statusCode, host).toBe(200);
      }
      expect((await app.inject({ method: 'GET', url: '/health', headers: { host: 'evil.example' } })).statusCode).toBe(403);
      const allowed = await app.inject({ method: 'POST', url: '/api/3.0/mlflow/traces/search', headers: { 'content-type': 'application/json', origin: 'https://app.example.com', host: 'threadline.internal' }, payload: JSON.stringify(SEARCH) });
      expect(allowed.statusCode).toBe(200);
    } finally {
      await app.close();
      await opened.close();
    }
  });

  it('reads host names out of Host headers', () => {
    expect(['Example.COM:80', 'example.com', '[::1]:5000', '[::1]', '127.0.0.1:1'].map(hostOf)).toEqual(['example.com', 'example.com', '::1', '::1', '127.0.0.1']);
  });
});
