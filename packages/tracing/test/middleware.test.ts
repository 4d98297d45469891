import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { threadlineSessions, threadlineSessionsFastify, threadlineSessionsHono, trace, type InMemoryTraceExporter } from '@threadline/tracing';
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
