import type { Kysely, Selectable } from 'kysely';
import { hashPassword, newSecret, secretHash, verifyPassword, API_TOKEN_PREFIX } from '../auth/secrets.js';
import type { AccountsTable, Database } from './schema.js';

/** MLflow's experiment permissions, weakest first (auth/permissions.ts says what each allows). */
export const PERMISSIONS = ['NO_PERMISSIONS', 'READ', 'USE', 'EDIT', 'MANAGE'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface Account {
  accountId: number;
  username: string;
  isAdmin: boolean;
  createdTime: number;
}

export interface ApiTokenInfo {
  tokenId: string;
  name: string;
  createdTime: number;
  lastUsedTime: number | null;
  revokedTime: number | null;
}

export interface AuditEvent {
  eventId: number;
  time: number;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

/** A username that is taken. */
export class AccountExistsError extends Error {
  constructor(readonly username: string) {
    super(`An account named '${username}' already exists.`);
    this.name = 'AccountExistsError';
  }
}

/**
 * Accounts, API tokens, UI sessions, experiment permissions and the audit log, over the store's
 * database. Nothing secret is stored in the clear (auth/secrets.ts).
 *
 * @example
 * const accounts = new AccountStore(store.db);
 * const admin = await accounts.createAccount({ username: 'admin', password: 'correct horse', isAdmin: true });
 * const { token } = await accounts.createToken(admin.accountId, 'ci');
 */
export class AccountStore {
  constructor(private readonly db: Kysely<Database>) {}

  async countAccounts(): Promise<number> {
    const row = await this.db.selectFrom('accounts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async createAccount(input: { username: string; password?: string; isAdmin?: boolean }): Promise<Account> {
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
    const createdTime = Date.now();
    const row = await this.db
      .insertInto('accounts')
      .values({ username: input.username, password_hash: passwordHash, is_admin: input.isAdmin ? 1 : 0, created_time: createdTime })
      .onConflict((oc) => oc.column('username').doNothing())
      .returning('account_id')
      .executeTakeFirst();
    if (!row) throw new AccountExistsError(input.username);
    return { accountId: Number(row.account_id), username: input.username, isAdmin: input.isAdmin ?? false, createdTime };
  }

  async getAccount(username: string): Promise<Account | undefined> {
    const row = await this.db.selectFrom('accounts').selectAll().where('username', '=', username).executeTakeFirst();
    return row && accountOf(row);
  }

  async listAccounts(): Promise<Account[]> {
    return (await this.db.selectFrom('accounts').selectAll().orderBy('username').execute()).map(accountOf);
  }

  /** The account whose password this is, or undefined (no such account, no password, wrong one). */
  async verifyLogin(username: string, password: string): Promise<Account | undefined> {
    const row = await this.db.selectFrom('accounts').selectAll().where('username', '=', username).executeTakeFirst();
    if (!row || row.password_hash === null) return undefined;
    return (await verifyPassword(password, row.password_hash)) ? accountOf(row) : undefined;
  }

  async setPassword(accountId: number, password: string): Promise<void> {
    await this.db.updateTable('accounts').set({ password_hash: await hashPassword(password) }).where('account_id', '=', accountId).execute();
    // A new password ends every session signed in with the old one.
    await this.db.deleteFrom('ui_sessions').where('account_id', '=', accountId).execute();
  }

  async setAdmin(accountId: number, isAdmin: boolean): Promise<void> {
    await this.db.updateTable('accounts').set({ is_admin: isAdmin ? 1 : 0 }).where('account_id', '=', accountId).execute();
  }

  /** Deletes an account with its tokens, sessions and permissions; false when there was none. */
  async deleteAccount(accountId: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      for (const table of ['api_tokens', 'ui_sessions', 'experiment_permissions'] as const) await trx.deleteFrom(table).where('account_id', '=', accountId).execute();
      const deleted = await trx.deleteFrom('accounts').where('account_id', '=', accountId).executeTakeFirst();
      return Number(deleted.numDeletedRows) > 0;
    });
  }

  // ---- API tokens ----------------------------------------------------------------------------

  /** A new token for the account; its secret is in the answer and nowhere else, ever. */
  async createToken(accountId: number, name: string): Promise<ApiTokenInfo & { token: string }> {
    const token = newSecret(API_TOKEN_PREFIX);
    const info: ApiTokenInfo = { tokenId: `tok_${newSecret('').slice(0, 16)}`, name, createdTime: Date.now(), lastUsedTime: null, revokedTime: null };
    await this.db
      .insertInto('api_tokens')
      .values({ token_id: info.tokenId, account_id: accountId, name, token_hash: secretHash(token), created_time: info.createdTime, last_used_time: null, revoked_time: null })
      .execute();
    return { ...info, token };
  }

  async listTokens(accountId: number): Promise<ApiTokenInfo[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().where('account_id', '=', accountId).orderBy('created_time', 'desc').execute();
    return rows.map((r) => ({ tokenId: r.token_id, name: r.name, createdTime: Number(r.created_time), lastUsedTime: r.last_used_time === null ? null : Number(r.last_used_time), revokedTime: r.revoked_time === null ? null : Number(r.revoked_time) }));
  }

  /** Revokes one of the account's tokens; false when it has no such live token. */
  async revokeToken(accountId: number, tokenId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_time: Date.now() })
      .where('account_id', '=', accountId)
      .where('token_id', '=', tokenId)
      .where('revoked_time', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** The account a live token belongs to. */
  async accountForToken(token: string): Promise<{ account: Account; tokenId: string } | undefined> {
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('accounts', 'accounts.account_id', 'api_tokens.account_id')
      .selectAll('accounts')
      .select('api_tokens.token_id')
      .where('api_tokens.token_hash', '=', secretHash(token))
      .where('api_tokens.revoked_time', 'is', null)
      .executeTakeFirst();
    return row && { account: accountOf(row), tokenId: row.token_id };
  }

  async touchToken(tokenId: string, time: number): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_time: time }).where('token_id', '=', tokenId).execute();
  }

  // ---- UI sessions -----------------------------------------------------------------------------

  async createUiSession(accountId: number, ttlMillis: number): Promise<{ sessionId: string; csrfToken: string; expiresTime: number }> {
    const sessionId = newSecret('');
    const csrfToken = newSecret('');
    const now = Date.now();
    await this.db.deleteFrom('ui_sessions').where('expires_time', '<', now).execute();
    await this.db
      .insertInto('ui_sessions')
      .values({ session_hash: secretHash(sessionId), account_id: accountId, csrf_token: csrfToken, created_time: now, expires_time: now + ttlMillis })
      .execute();
    return { sessionId, csrfToken, expiresTime: now + ttlMillis };
  }

  async uiSession(sessionId: string): Promise<{ account: Account; csrfToken: string } | undefined> {
    const row = await this.db
      .selectFrom('ui_sessions')
      .innerJoin('accounts', 'accounts.account_id', 'ui_sessions.account_id')
      .selectAll('accounts')
      .select('ui_sessions.csrf_token')
      .where('ui_sessions.session_hash', '=', secretHash(sessionId))
      .where('ui_sessions.expires_time', '>', Date.now())
      .executeTakeFirst();
    return row && { account: accountOf(row), csrfToken: row.csrf_token };
  }

  async deleteUiSession(sessionId: string): Promise<void> {
    await this.db.deleteFrom('ui_sessions').where('session_hash', '=', secretHash(sessionId)).execute();
  }

  // ---- permissions ---------------------------------------------------------------------------

  async setPermission(experimentId: string, accountId: number, permission: Permission): Promise<void> {
    await this.db
      .insertInto('experiment_permissions')
      .values({ experiment_id: Number(experimentId), account_id: accountId, permission })
      .onConflict((oc) => oc.columns(['experiment_id', 'account_id']).doUpdateSet({ permission }))
      .execute();
  }

  async deletePermission(experimentId: string, accountId: number): Promise<boolean> {
    const deleted = await this.db.deleteFrom('experiment_permissions').where('experiment_id', '=', Number(experimentId)).where('account_id', '=', accountId).executeTakeFirst();
    return Number(deleted.numDeletedRows) > 0;
  }

  /** The permissions an account was given explicitly, by experiment id. */
  async permissionsOf(accountId: number): Promise<Map<string, Permission>> {
    const rows = await this.db.selectFrom('experiment_permissions').select(['experiment_id', 'permission']).where('account_id', '=', accountId).execute();
    return new Map(rows.map((r) => [String(r.experiment_id), r.permission as Permission]));
  }

  async permissionsOfExperiment(experimentId: string): Promise<{ username: string; permission: Permission }[]> {
    const rows = await this.db
      .selectFrom('experiment_permissions')
      .innerJoin('accounts', 'accounts.account_id', 'experiment_permissions.account_id')
      .select(['accounts.username', 'experiment_permissions.permission'])
      .where('experiment_permissions.experiment_id', '=', Number(experimentId))
      .orderBy('accounts.username')
      .execute();
    return rows.map((r) => ({ username: r.username, permission: r.permission as Permission }));
  }

  // ---- audit ---------------------------------------------------------------------------------

  async audit(actor: string, action: string, target: string, details: Record<string, unknown> = {}): Promise<void> {
    await this.db.insertInto('audit_events').values({ time: Date.now(), actor, action, target, details: JSON.stringify(details) }).execute();
  }

  /** Newest first; `beforeEventId` pages back. */
  async auditEvents(options: { limit: number; beforeEventId?: number }): Promise<AuditEvent[]> {
    let query = this.db.selectFrom('audit_events').selectAll().orderBy('event_id', 'desc').limit(options.limit);
    if (options.beforeEventId !== undefined) query = query.where('event_id', '<', options.beforeEventId);
    return (await query.execute()).map((r) => ({ eventId: Number(r.event_id), time: Number(r.time), actor: r.actor, action: r.action, target: r.target, details: JSON.parse(r.details) as Record<string, unknown> }));
  }
}

function accountOf(row: Selectable<AccountsTable>): Account {
  return { accountId: Number(row.account_id), username: row.username, isAdmin: Number(row.is_admin) === 1, createdTime: Number(row.created_time) };
}
