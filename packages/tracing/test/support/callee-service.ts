import express from 'express';
import type { AddressInfo } from 'node:net';
import { SpanType, threadlineSessions, trace } from '@threadline/tracing';

/**
 * A second service in the test's process: Express with the session middleware (which continues a
 * caller's `traceparent`) and `GET /search?q=` answered by a traced `retrieve`. Runs `work` with
 * its URL, then closes it.
 */
export async function withCallee(work: (url: string) => Promise<void>): Promise<void> {
  const retrieve = trace(async (query: string) => [`doc about ${query}`], { name: 'retrieve', spanType: SpanType.RETRIEVER });
  const app = express();
  app.use(threadlineSessions());
  app.get('/search', async (req, res) => void res.json(await retrieve(String(req.query.q))));
  const callee = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => callee.once('listening', resolve));
  try {
    await work(`http://127.0.0.1:${(callee.address() as AddressInfo).port}`);
  } finally {
    await new Promise((resolve) => callee.close(() => resolve(undefined)));
  }
}
