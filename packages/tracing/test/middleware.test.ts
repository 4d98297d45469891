import { serve } from '@hono/node-server';
import { propagation, trace as otelTrace } from '@opentelemetry/api';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { threadlineSessions, threadlineSessionsFastify, threadlineSessionsHono, trace, traceContextHeaders, withSpan, type InMemoryTraceExporter } from '@threadline/tracing';
import { exportedTraces, initInMemory } from './support/sdk-setup.js';

let exporter: InMemoryTraceExporter;
const closers: (() => Promise<void>)[] = [];
beforeEach(() => {
  exporter = initInMemory();
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** The seed's process_chat, with no metadata code at all: the middleware supplies user and session. */
const processChat = trace(
  async (message: string) => {
    await sleep(message.length % 4);
    return `echo: ${message}`;
  },
  { name: 'process_chat' },
);

/** Sends `count` interleaved POST /chat requests, each from its own user and session. */
async function chatConcurrently(url: string, count: number) {
  const replies = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (i !== 0) Object.assign(headers, { 'X-User-ID': `user-${i}`, 'X-Session-ID': `session-${i}` });
      const response = await fetch(`${url}/chat`, { method: 'POST', headers, body: JSON.stringify({ message: `hello ${i}` }) });
      return ((await response.json()) as { response: string }).response;
    }),
  );
  expect(replies[3]).toBe('echo: hello 3');
  const traces = await exportedTraces(exporter);
  expect(traces).toHaveLength(count);
  for (const t of traces) {
    const i = Number(String((t.spans[0]!.attributes!['mlflow.spanInputs'] as { message: string }).message).split(' ')[1]);
    const metadata = t.info.trace_metadata!;
    if (i === 0) {
      // No headers: the defaults.
      expect([metadata['mlflow.trace.user'], metadata['mlflow.trace.session']]).toEqual(['default-user', 'default-session']);
    } else {
      expect([metadata['mlflow.trace.user'], metadata['mlflow.trace.session']]).toEqual([`user-${i}`, `session-${i}`]);
    }
    expect(metadata['app.name']).toBe('seed');
  }
}

const options = { userHeader: 'X-User-ID', sessionHeader: 'X-Session-ID', defaultUser: 'default-user', defaultSession: 'default-session', metadata: { 'app.name': 'seed' } };

describe('request middleware puts the user and session of each request on its traces', () => {
  it('Express', async () => {
    const app = express();
    app.use(express.json());
    app.use(threadlineSessions(options));
    app.post('/chat', async (req, res) => {
      res.json({ response: await processChat((req.body as { message: string }).message) });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    await chatConcurrently(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 30);
  });

  it('Fastify (also for bodies parsed from the request stream)', async () => {
    const app = Fastify();
    await app.register(threadlineSessionsFastify(options));
    app.post('/chat', async (request) => ({ response: await processChat((request.body as { message: string }).message) }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    await chatConcurrently(url, 30);
  });

  it('Hono', async () => {
    const app = new Hono();
    app.use('*', threadlineSessionsHono(options));
    app.post('/chat', async (c) => c.json({ response: await processChat(((await c.req.json()) as { message: string }).message) }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    await chatConcurrently(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 30);
  });
});

// W3C trace context across two services: the caller injects `traceparent`, the callee's session
// middleware extracts it, and the callee's trace carries the caller's trace id, its root a child
// of the caller's span. Both services run in this process, on one SDK.

/** The callee's work; it answers with the ids its root span got, as the SDK's spans see them. */
const retrieve = trace(
  async (query: string) => {
    const span = otelTrace.getActiveSpan() as unknown as { spanContext(): { traceId: string }; parentSpanContext?: { spanId: string; isRemote?: boolean } };
    return { query, traceId: span.spanContext().traceId, parentSpanId: span.parentSpanContext?.spanId ?? null, remote: span.parentSpanContext?.isRemote ?? false };
  },
  { name: 'retrieve' },
);

type Reply = { query: string; traceId: string; parentSpanId: string | null; remote: boolean };

/** The three frameworks' callee, each on a free port; resolves its base URL. */
const callees: Record<string, () => Promise<string>> = {
  Express: async () => {
    const app = express();
    app.use(threadlineSessions());
    app.get('/search', async (req, res) => void res.json(await retrieve(String(req.query.q))));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  },
  Fastify: async () => {
    const app = Fastify();
    await app.register(threadlineSessionsFastify());
    app.get('/search', async (request) => retrieve(String((request.query as { q: string }).q)));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    return url;
  },
  Hono: async () => {
    const app = new Hono();
    app.use('*', threadlineSessionsHono());
    app.get('/search', async (c) => c.json(await retrieve(c.req.query('q')!)));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  },
};

describe('W3C trace context between two services', () => {
  it('init() registers the W3C trace-context propagator globally', () => {
    expect(propagation.fields()).toEqual(expect.arrayContaining(['traceparent', 'tracestate']));
    expect(withSpan(() => traceContextHeaders().traceparent, { name: 'inject' })).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(traceContextHeaders()).toEqual({});
  });

  for (const [framework, start] of Object.entries(callees)) {
    it(`${framework}: the callee's trace continues the caller's trace id, its root a child of the caller's span`, async () => {
      const url = await start();
      const ask = trace(
        async (q: string) => {
          const headers = traceContextHeaders({ 'X-User-ID': `user-${q}` });
          return { reply: (await (await fetch(`${url}/search?q=${q}`, { headers })).json()) as Reply, caller: otelTrace.getActiveSpan()!.spanContext() };
        },
        { name: 'ask' },
      );
      // Interleaved calls: each callee trace joins its own caller.
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((q) => ask(q)));
      for (const { reply, caller } of results) {
        expect(reply.traceId).toBe(caller.traceId);
        expect(reply.parentSpanId).toBe(caller.spanId);
        expect(reply.remote).toBe(true);
      }
      const traces = await exportedTraces(exporter);
      expect(traces).toHaveLength(8);
      for (const { reply, caller } of results) {
        const both = traces.filter((t) => t.info.trace_id === `tr-${caller.traceId}`);
        expect(both.map((t) => t.spans[0]!.name).sort()).toEqual(['ask', 'retrieve']);
        const callee = both.find((t) => t.spans[0]!.name === 'retrieve')!;
        // In traces.json the callee's root stays a root (MLflow's trace model); the caller's span id is kept by OTLP.
        expect(callee.spans[0]!.parent_span_id).toBe('');
        expect(callee.info.trace_metadata!['mlflow.trace.user']).toBe(`user-${reply.query}`);
      }
    });
  }

  it('without traceparent, or with traceContext: false, the callee starts its own trace', async () => {
    const app = express();
    app.use('/off', threadlineSessions({ traceContext: false }));
    app.use('/on', threadlineSessions());
    app.get(['/on/search', '/off/search'], async (req, res) => void res.json(await retrieve(String(req.query.q))));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const plain = (await (await fetch(`${url}/on/search?q=x`)).json()) as Reply;
    expect(plain.parentSpanId).toBeNull();
    const caller = withSpan(() => traceContextHeaders(), { name: 'caller' });
    const off = (await (await fetch(`${url}/off/search?q=y`, { headers: caller })).json()) as Reply;
    expect(off.parentSpanId).toBeNull();
    expect(off.traceId).not.toBe(caller.traceparent!.split('-')[1]);
    const bad = (await (await fetch(`${url}/on/search?q=z`, { headers: { traceparent: 'not-a-traceparent' } })).json()) as Reply;
    expect(bad.parentSpanId).toBeNull();
  });
});
