import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Takes or renews the lease `name` for `holder` until `now + ttlMs`: granted when nobody holds it,
 * its holder's time ran out, or `holder` holds it already. One upsert decides atomically on both
 * databases, so of two replicas asking at once exactly one gets it.
 */
export async function takeLease(db: Kysely<Database>, name: string, holder: string, ttlMs: number, now = Date.now()): Promise<boolean> {
  await db
    .insertInto('leases')
    .values({ name, holder, until: now + ttlMs })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ holder, until: now + ttlMs })
        .where((eb) => eb.or([eb('leases.until', '<', now), eb('leases.holder', '=', holder)])),
    )
    .execute();
  const row = await db.selectFrom('leases').select('holder').where('name', '=', name).executeTakeFirst();
  return row?.holder === holder;
}

/** Gives a lease up (its holder stops), so that another can take it at once. */
export async function releaseLease(db: Kysely<Database>, name: string, holder: string): Promise<void> {
  await db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
}
