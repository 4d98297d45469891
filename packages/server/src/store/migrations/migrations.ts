import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import * as m001 from './001-initial.js';
import * as m002 from './002-search-indexes.js';
import * as m003 from './003-trace-hours.js';
import * as m004 from './004-accounts.js';
import * as m005 from './005-feedback-rollups.js';
import * as m006 from './006-cost.js';
import * as m007 from './007-erasures.js';
import * as m008 from './008-leases.js';
import * as m009 from './009-redaction-rules.js';
import * as m010 from './010-trace-text.js';
import * as m011 from './011-key-hours.js';
import * as m012 from './012-unused-sqlite-indexes.js';
import * as m013 from './013-trace-text-pending.js';
import * as m014 from './014-text-documents-without-words.js';
import * as m015 from './015-trace-keys.js';
import * as m016 from './016-span-keys.js';
import * as m017 from './017-text-document-keys.js';

/** What a migration may need to know of the database it runs on. */
export interface MigrationContext {
  dialect: 'sqlite' | 'postgres';
  /**
   * PostgreSQL schema the tables live in. Kysely looks for its migration tables in every schema
   * unless told which, and would mistake another schema's for ours.
   */
  schema?: string;
}

type VersionedMigration = (db: Kysely<unknown>, ctx: MigrationContext) => Promise<void>;

/** Every migration, in order. Append only: a released migration is never edited. */
const MIGRATIONS: Record<string, { up: VersionedMigration }> = {
  '001-initial': m001,
  '002-search-indexes': m002,
  '003-trace-hours': m003,
  '004-accounts': m004,
  '005-feedback-rollups': m005,
  '006-cost': m006,
  '007-erasures': m007,
  '008-leases': m008,
  '009-redaction-rules': m009,
  '010-trace-text': m010,
  '011-key-hours': m011,
  '012-unused-sqlite-indexes': m012,
  '013-trace-text-pending': m013,
  '014-text-documents-without-words': m014,
  '015-trace-keys': m015,
  '016-span-keys': m016,
  '017-text-document-keys': m017,
};

/**
 * Brings the schema up to date. Safe to run from several server processes at once: Kysely takes a
 * lock (a table lock on PostgreSQL, a transaction on SQLite) around the whole run.
 */
export async function migrateToLatest(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const provider: MigrationProvider = {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, migration] of Object.entries(MIGRATIONS)) out[name] = { up: (d) => migration.up(d, ctx) };
      return out;
    },
  };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'threadline_migrations',
    migrationLockTableName: 'threadline_migrations_lock',
    ...(ctx.schema ? { migrationTableSchema: ctx.schema } : {}),
  });
  for (let attempt = 1; ; attempt++) {
    const { error } = await migrator.migrateToLatest();
    if (!error) return;
    // Kysely finds its migration table by listing the tables of every schema; another schema, or
    // a table of one, dropped during that listing fails it (3F000, 42P01, or PostgreSQL's internal
    // "could not open relation" / "cache lookup failed" when the drop lands mid-scan) though
    // nothing of ours is wrong. Run again: a migration of ours that fails so fails the same way
    // each time.
    if (attempt < 5 && droppedDuringListing(error)) continue;
    throw error instanceof Error ? error : new Error(String(error));
  }
}

function droppedDuringListing(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code === '3F000' || code === '42P01') return true;
  return code === 'XX000' && /could not open relation|cache lookup failed/.test(String(message));
}
