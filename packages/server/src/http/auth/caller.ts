import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Account, AccountStore } from '../../store/accounts.js';

/** Who sent a request, resolved once per request by {@link CallerResolver}. */
export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'account'; account: Account; via: 'basic' | 'token'; tokenId?: string }
  | { kind: 'account'; account: Account; via: 'session'; csrfToken: string };

/** The cookie the UI's sign-in sets: HttpOnly, SameSite=Strict, the session id in the clear. */
export const SESSION_COOKIE = 'threadline_session';

/** How long a verified credential is trusted without asking the database again. */
const CREDENTIAL_CACHE_MILLIS = 10_000;
/** A token's last-use time is written at most this often. */
const LAST_USE_WRITE_MILLIS = 60_000;
const CACHE_LIMIT = 10_000;

interface Cached<T> {
  value: T;
  until: number;
}

/**
 * Resolves the caller from `Authorization: Basic` (MLflow's MLFLOW_TRACKING_USERNAME /
 * _PASSWORD), `Authorization: Bearer` (MLFLOW_TRACKING_TOKEN, OTLP exporters' headers) or the UI's
 * session cookie. Verified credentials are cached for a few seconds, keyed by a hash of the
 * credential: a password costs one scrypt per cache period instead of one per request (ingest
 * sends two requests per trace), and a revoked token stops working on every replica within the
 * cache period (at once on the replica that revoked it).
 *
 * A credential that is wrong is an anonymous caller; the access check then answers 401.
 */
export class CallerResolver {
  private readonly cache = new Map<string, Cached<Caller>>();
  private readonly lastUseWritten = new Map<string, number>();

  constructor(private readonly accounts: AccountStore) {}

  async resolve(request: FastifyRequest): Promise<Caller> {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const [scheme, credential = ''] = header.trim().split(/\s+/, 2);
      if (scheme?.toLowerCase() === 'basic') return this.cached(`basic:${digest(credential)}`, () => this.basic(credential));
      if (scheme?.toLowerCase() === 'bearer') return this.cached(`token:${digest(credential)}`, () => this.token(credential));
      return ANONYMOUS;
    }
    const session = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (session !== undefined) return this.cached(`session:${digest(session)}`, () => this.session(session));
    return ANONYMOUS;
  }

  /** Forgets every cached credential (after a password change, a revocation, a deletion). */
  forgetAll(): void {
    this.cache.clear();
  }

  private async cached(key: string, load: () => Promise<Caller>): Promise<Caller> {
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.value;
    const value = await load();
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, { value, until: now + CREDENTIAL_CACHE_MILLIS });
    return value;
  }

  private async basic(credential: string): Promise<Caller> {
    const decoded = Buffer.from(credential, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return ANONYMOUS;
    const account = await this.accounts.verifyLogin(decoded.slice(0, colon), decoded.slice(colon + 1));
    return account ? { kind: 'account', account, via: 'basic' } : ANONYMOUS;
  }

  private async token(token: string): Promise<Caller> {
    const found = await this.accounts.accountForToken(token);
    if (!found) return ANONYMOUS;
    const now = Date.now();
    if ((this.lastUseWritten.get(found.tokenId) ?? 0) + LAST_USE_WRITE_MILLIS <= now) {
      this.lastUseWritten.set(found.tokenId, now);
      // Bookkeeping, not worth failing a request over.
      await this.accounts.touchToken(found.tokenId, now).catch(() => {});
    }
    return { kind: 'account', account: found.account, via: 'token', tokenId: found.tokenId };
  }

  private async session(sessionId: string): Promise<Caller> {
    const found = await this.accounts.uiSession(sessionId);
    return found ? { kind: 'account', account: found.account, via: 'session', csrfToken: found.csrfToken } : ANONYMOUS;
  }
}

/** A caller without (valid) credentials. */
export const ANONYMOUS: Caller = { kind: 'anonymous' };

function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('base64');
}

/** One cookie's value from a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** The name an audit event gives a caller. */
export function actorOf(caller: Caller): string {
  return caller.kind === 'account' ? caller.account.username : 'anonymous';
}
