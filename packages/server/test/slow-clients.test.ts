import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../src/http/app.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';

/**
 * Clients that send slowly or a lot at once, against a real listening server: half-sent headers
 * and bodies are cut off instead of being held forever, and request bodies held at once are
 * capped (503 with Retry-After past the cap) instead of all being taken into memory.
 */
describeEachDatabase('slow and greedy clients', (database) => {
  let opened: TestStore;
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    opened = await database.open();
    app = await createApp({
      store: opened.store,
      limits: { headersTimeoutMillis: 300, requestTimeoutMillis: 600, idleTimeoutMillis: 5_000, maxConcurrentBodyBytes: 3 * 1024 * 1024 },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await app?.close();
    await opened?.close();
  });

  /** A raw connection that sends `text` and resolves, with whatever came back, once the server closes it. */
  const sendAndWaitForClose = (text: string) =>
    new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
      let received = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
      socket.on('error', () => {});
      socket.on('close', () => resolve(received));
    });

  /** A request whose body is sent in part; resolves with the socket and the reply's first bytes, if any come. */
  const startUpload = (declaredBytes: number, firstBytes: string) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let received = '';
    const replied = new Promise<string>((resolve) => {
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        received += chunk;
        if (received.includes('\r\n\r\n')) resolve(received);
      });
      socket.on('close', () => resolve(received));
    });
    socket.write(`POST /api/3.0/mlflow/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${declaredBytes}\r\n\r\n${firstBytes}`);
    return { socket, replied };
  };

  it('disconnects a client that never finishes its headers, and answers others meanwhile', async () => {
    const cut = sendAndWaitForClose('POST /api/3.0/mlflow/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl');
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    // Node answers 408 where it can, then closes; either way the connection is gone.
    expect(await cut).toMatch(/^$|^HTTP\/1\.1 408/);
  });

  it('answers 408 to a client that never finishes its body', async () => {
    const { socket, replied } = startUpload(1000, '{"trace":');
    expect(await replied).toMatch(/^HTTP\/1\.1 408/);
    socket.destroy();
  });

  it('holds at most the configured body bytes at once: a large upload that does not fit is a 503 with Retry-After before its body is read', async () => {
    const twoMiB = 2 * 1024 * 1024;
    // The first upload is counted once the server has its headers.
    const headersIn = once(app.server, 'request');
    const first = startUpload(twoMiB, '{"trace":');
    await headersIn;
    const second = await fetch(`http://127.0.0.1:${port}/api/3.0/mlflow/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(twoMiB),
    });
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('2');
    expect(await second.json()).toMatchObject({ error_code: 'TEMPORARILY_UNAVAILABLE' });
    // Small requests still fit beside the large one.
    const small = await fetch(`http://127.0.0.1:${port}/api/3.0/mlflow/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(startTraceBody({ traceId: newTraceId() })) });
    expect(small.status).toBe(200);
    // Once the first upload ends (here cut off by the request timeout), the budget is free again.
    expect(await first.replied).toMatch(/^HTTP\/1\.1 408/);
    first.socket.destroy();
    const retried = await fetch(`http://127.0.0.1:${port}/api/3.0/mlflow/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(twoMiB) });
    expect(retried.status).toBe(400);
  });
});
