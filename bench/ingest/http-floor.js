#!/usr/bin/env node
/**
 * The HTTP floor of bench:ingest: what the MLflow REST flow costs a server that only speaks it.
 * A bare `node:http` server (no framework, no storage) that reads each request's body, parses it
 * as JSON, and answers as the tracking server does: the create call with the trace's info and the
 * artifact location the SDK uploads the spans to, the upload with `{}`. Its CPU per trace is the
 * part of the server's that HTTP and JSON alone take, on this machine, with this client.
 *
 * Run by bench/ingest/run.js as a child process; prints "listening on http://…" as the server does.
 */
import http from 'node:http';

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error_code":"INVALID_PARAMETER_VALUE","message":"not JSON"}');
      return;
    }
    if (req.method === 'POST' && req.url === '/api/3.0/mlflow/traces') {
      const info = body?.trace?.trace_info ?? {};
      const experimentId = info.trace_location?.mlflow_experiment?.experiment_id;
      const tags = { ...info.tags, 'mlflow.artifactLocation': `mlflow-artifacts:/${experimentId}/traces/${info.trace_id}/artifacts` };
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ trace: { trace_info: { ...info, tags } } }));
    } else if (req.method === 'PUT' && Array.isArray(body?.spans)) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('{}');
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error_code":"ENDPOINT_NOT_FOUND","message":"no such endpoint"}');
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
