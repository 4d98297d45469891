import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type ProxyMode = 'pass' | 'slow' | 'error500' | 'rate-limited' | 'status';

/** What the proxy answers in mode `status`: an HTTP status, with a Retry-After header if given. */
export interface ProxyAnswer {
  status: number;
  retryAfter?: string;
}

/**
 * A tiny HTTP server in front of a real tracking server, to play a failing one: forwarding
 * (`pass`), answering 500 or 429 (`Retry-After: 0`), answering `answer` (`status`), or holding
 * requests without answering (`slow`); `stop()` closes its port, so clients get connection
 * refused, and `start()` opens the same port again. `seen` counts the requests of each mode.
 */
export class FlakyProxy {
  mode: ProxyMode = 'pass';
  answer: ProxyAnswer = { status: 503 };
  readonly seen: Record<ProxyMode, number> = { pass: 0, slow: 0, error500: 0, 'rate-limited': 0, status: 0 };
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  constructor(private readonly target: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const mode = this.mode;
    this.seen[mode]++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (mode === 'slow') return; // never answers; the client's timeout ends it
    const answer: ProxyAnswer | undefined =
      mode === 'error500' ? { status: 500 } : mode === 'rate-limited' ? { status: 429, retryAfter: '0' } : mode === 'status' ? this.answer : undefined;
    if (answer !== undefined) {
      const { status, retryAfter } = answer;
      res.writeHead(status, { 'content-type': 'application/json', ...(retryAfter !== undefined && { 'retry-after': retryAfter }) });
      res.end(JSON.stringify({ error_code: status >= 500 ? 'INTERNAL_ERROR' : 'INVALID_PARAMETER_VALUE', message: `flaky proxy says ${status}` }));
      return;
    }
    const body = Buffer.concat(chunks);
    const reply = await fetch(this.target + req.url, {
      method: req.method,
      headers: {
        'content-type': req.headers['content-type'] ?? 'application/json',
        // OTLP requests name their experiment in a header.
        ...(req.headers['x-mlflow-experiment-id'] !== undefined && { 'x-mlflow-experiment-id': String(req.headers['x-mlflow-experiment-id']) }),
      },
      ...(body.length > 0 && { body }),
    });
    res.writeHead(reply.status, { 'content-type': reply.headers.get('content-type') ?? 'application/json' });
    res.end(Buffer.from(await reply.arrayBuffer()));
  }
}
