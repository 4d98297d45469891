import { networkInterfaces, hostname } from 'node:os';
import { ErrorCode } from '@threadline/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Who may talk to the server from where; all optional, safe for a laptop without any of it. */
export interface EdgeSecurityOptions {
  /**
   * Host names (or addresses) the server answers to besides the loopback ones (`localhost`,
   * `*.localhost`, 127.0.0.0/8, `::1`) and, when it listens on other addresses, those addresses
   * and the machine's name. A request naming another host in its `Host` header is refused, which
   * stops DNS rebinding. `['*']` answers any host (behind a proxy that checks it).
   */
  allowedHosts?: string[];
  /**
   * Origins (`https://app.example.com`) whose web pages may send state-changing requests, besides
   * the server's own. `['*']` allows any.
   */
  allowedOrigins?: string[];
  /** The address the server listens on; a non-loopback one adds its own names to the allowed hosts. */
  listenHost?: string;
}

/** A JSON media type: never one a web page can send cross-origin without a CORS preflight. */
const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Headers of every reply (a route that writes its own, an event stream, sends them itself). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * The server's edge against hostile web pages, with no configuration (the threat: a developer
 * runs Threadline on their laptop and visits a malicious page, which can send requests to
 * 127.0.0.1 or rebind a DNS name to it):
 * - a POST body must declare a JSON type, which a page can only send cross-origin after a CORS
 *   preflight, and the server answers none; so a page's plain `fetch` or form with `text/plain`
 *   changes nothing (415). (PUT, PATCH and DELETE are always preflighted; `POST /v1/traces`
 *   checks its own types, JSON or protobuf, exactly.)
 * - a state-changing request from a browser must come from the server's own origin or an
 *   allowed one (`Origin`, 403);
 * - the `Host` header must name this server (403), which defeats DNS rebinding;
 * - every reply carries `nosniff`, no framing, no referrer and same-origin resource policy.
 *
 * @example
 * secureEdge(app, { allowedHosts: ['threadline.internal'] });
 */
export function secureEdge(app: FastifyInstance, options: EdgeSecurityOptions = {}): void {
  const hostAllowed = hostMatcher(options);
  const originAllowed = originMatcher(options.allowedOrigins ?? []);

  app.addHook('onRequest', async (request, reply) => {
    const host = hostOf(request.headers.host);
    if (!hostAllowed(host)) {
      return refuse(reply, 403, ErrorCode.PERMISSION_DENIED, `This server does not answer to the host name '${host}'; start it with --allowed-hosts ${host || '<name>'} if that name is really its own.`);
    }
    if (!STATE_CHANGING.has(request.method)) return;
    const origin = request.headers.origin;
    if (origin !== undefined && !originAllowed(origin, request.headers.host)) {
      return refuse(reply, 403, ErrorCode.PERMISSION_DENIED, `Requests from web pages of ${origin} are not allowed; start the server with --allowed-origins ${origin} to allow them.`);
    }
    if (request.method !== 'POST' || !hasBody(request) || request.url.split('?')[0] === '/v1/traces') return;
    if (!JSON_MEDIA_TYPE.test(mediaType(request.headers['content-type']))) {
      return refuse(reply, 415, ErrorCode.BAD_REQUEST, `Unsupported Content-Type '${request.headers['content-type'] ?? ''}': send the body as application/json.`);
    }
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.headers(SECURITY_HEADERS);
    return payload;
  });
}

function refuse(reply: FastifyReply, status: number, errorCode: ErrorCode, message: string): FastifyReply {
  return reply.status(status).header('connection', 'close').send({ error_code: errorCode, message });
}

/** `application/json; charset=utf-8` → `application/json`. */
function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** The host name of a `Host` header, without its port, lower case; IPv6 without brackets. */
export function hostOf(header: string | undefined): string {
  const value = (header ?? '').trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']') === -1 ? undefined : value.indexOf(']'));
  const colon = value.lastIndexOf(':');
  return colon === -1 ? value : value.slice(0, colon);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || /^127(?:\.\d{1,3}){3}$/.test(host) || host === '::1' || host === '0:0:0:0:0:0:0:1';
}

function hostMatcher(options: EdgeSecurityOptions): (host: string) => boolean {
  const configured = (options.allowedHosts ?? []).map((h) => hostOf(h));
  if (configured.includes('*')) return () => true;
  const allowed = new Set(configured);
  // An address to listen on has no port, but an IPv6 one may come with or without brackets.
  const listen = (options.listenHost ?? '').trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (listen !== '' && !isLoopback(listen)) {
    if (listen === '0.0.0.0' || listen === '::') {
      // Every address of this machine, and its name: what clients on the network can use.
      for (const addresses of Object.values(networkInterfaces())) for (const a of addresses ?? []) allowed.add(a.address.toLowerCase());
      allowed.add(hostname().toLowerCase());
    } else {
      allowed.add(listen);
    }
  }
  return (host) => isLoopback(host) || allowed.has(host);
}

function originMatcher(configured: string[]): (origin: string, hostHeader: string | undefined) => boolean {
  if (configured.includes('*')) return () => true;
  const allowed = new Set(configured.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return (origin, hostHeader) => {
    const normalised = origin.toLowerCase();
    if (allowed.has(normalised)) return true;
    // The server's own pages: the origin names the host (and port) this request was sent to.
    try {
      return new URL(normalised).host === (hostHeader ?? '').toLowerCase();
    } catch {
      return false;
    }
  };
}
