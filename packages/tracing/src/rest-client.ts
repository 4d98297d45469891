import type { ErrorBody } from '@threadline/protocol';
import { ThreadlineRequestError, type ExportFailureKind } from './exporters/trace-exporter.js';

/** Headers added to every request: fixed, or computed per request (e.g. a refreshed token). */
export type HeadersProvider = Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);

/** How to reach and authenticate to a tracking server. */
export interface TrackingServerOptions {
  /** `http(s)://host:port[/prefix]` of the tracking server. */
  trackingUri: string;
  /** Basic authentication (wins over a token, as in the MLflow SDK). */
  trackingServerUsername?: string;
  trackingServerPassword?: string;
  /** Bearer token. */
  trackingServerToken?: string;
  /** More headers for every request. */
  headers?: HeadersProvider;
  /** Per-request timeout in milliseconds (connection, reply and body). Default 5000. */
  requestTimeoutMillis?: number;
  /** The fetch implementation. Default: Node's global `fetch`. */
  fetch?: typeof fetch;
}

export const DEFAULT_REQUEST_TIMEOUT_MILLIS = 5000;

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * Minimal JSON-over-HTTP client for the MLflow REST API: joins paths to the tracking URI as the MLflow
 * SDK does, adds auth headers, enforces a timeout, and turns every failure into a
 * `ThreadlineRequestError` with its kind (what the exporter retries and logs by).
 */
export class RestClient {
  readonly trackingUri: string;
  private readonly timeoutMillis: number;
  private readonly fetchImpl: typeof fetch;
  private readonly authorization: string | undefined;

  constructor(private readonly options: TrackingServerOptions) {
    this.trackingUri = options.trackingUri.replace(/\/+$/, '');
    this.timeoutMillis = options.requestTimeoutMillis ?? DEFAULT_REQUEST_TIMEOUT_MILLIS;
    this.fetchImpl = options.fetch ?? fetch;
    if (options.trackingServerUsername !== undefined && options.trackingServerPassword !== undefined) {
      this.authorization = `Basic ${Buffer.from(`${options.trackingServerUsername}:${options.trackingServerPassword}`).toString('base64')}`;
    } else if (options.trackingServerToken !== undefined) {
      this.authorization = `Bearer ${options.trackingServerToken}`;
    }
  }

  /**
   * Sends one request and parses the JSON reply. `body` is sent as is when it is a string (already
   * JSON), else JSON-encoded. Rejects only with ThreadlineRequestError.
   */
  async request<T>(method: string, path: string, body?: unknown, query?: Record<string, string | undefined>): Promise<T> {
    const { status, text } = await this.send(method, path, body, query);
    if (status === 204 || text.length === 0) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ThreadlineRequestError('invalid-response', `${method} ${path}: the reply is not JSON: ${text.slice(0, 200)}`, { status });
    }
  }

  /** Sends one request and resolves the reply body as text (for JSON that needs its own parser). */
  async requestText(method: string, path: string): Promise<string> {
    return (await this.send(method, path)).text;
  }

  /**
   * Sends a binary body (OTLP protobuf) with its content type and more headers; resolves the reply
   * status. Rejects only with ThreadlineRequestError, classified as for JSON requests.
   */
  async requestBytes(method: string, path: string, body: Uint8Array, contentType: string, headers: Record<string, string> = {}): Promise<number> {
    return (await this.send(method, path, body, undefined, { ...headers, 'Content-Type': contentType })).status;
  }

  private async send(
    method: string,
    path: string,
    body?: unknown,
    query?: Record<string, string | undefined>,
    requestHeaders?: Record<string, string>,
  ): Promise<{ status: number; text: string }> {
    let url = this.trackingUri + path;
    if (query !== undefined) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) if (value !== undefined) params.append(key, value);
      url += `?${params.toString()}`;
    }
    const headers: Record<string, string> = { 'Content-Type': 'application/json', ...requestHeaders };
    if (this.authorization !== undefined) headers.Authorization = this.authorization;
    let response: Response;
    let text: string;
    try {
      const extra = this.options.headers;
      if (extra !== undefined) Object.assign(headers, typeof extra === 'function' ? await extra() : extra);
      response = await this.fetchImpl(url, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMillis),
      });
      text = await response.text();
    } catch (error) {
      throw classifyNetworkError(error, method, url, this.timeoutMillis);
    }
    if (!response.ok) throw httpError(response, text, method, path);
    return { status: response.status, text };
  }
}

function classifyNetworkError(error: unknown, method: string, url: string, timeoutMillis: number): ThreadlineRequestError {
  const name = (error as { name?: string } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new ThreadlineRequestError('timeout', `${method} ${url}: no reply within ${timeoutMillis} ms`, { cause: error });
  }
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  const code = cause?.code;
  if (error instanceof TypeError || (code !== undefined && NETWORK_ERROR_CODES.has(code))) {
    return new ThreadlineRequestError('unreachable', `${method} ${url}: ${code ?? cause?.message ?? (error as Error).message}`, { cause: error });
  }
  return new ThreadlineRequestError('exporter-error', `${method} ${url}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

function httpError(response: Response, text: string, method: string, path: string): ThreadlineRequestError {
  const status = response.status;
  let errorCode: string | undefined;
  let message = text.slice(0, 1000);
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (typeof body.error_code === 'string') errorCode = body.error_code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not an MLflow error body: keep the text.
  }
  const retryAfterMillis = parseRetryAfter(response.headers.get('retry-after'));
  const kind: ExportFailureKind =
    status === 429 ? 'rate-limited' : status === 408 ? 'timeout' : status >= 500 ? 'server-error' : status === 401 || status === 403 ? 'unauthorized' : 'rejected';
  return new ThreadlineRequestError(kind, `${method} ${path}: HTTP ${status}${errorCode ? ` ${errorCode}` : ''}: ${message}`, {
    status,
    ...(errorCode !== undefined && { errorCode }),
    ...(retryAfterMillis !== undefined && { retryAfterMillis }),
  });
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
