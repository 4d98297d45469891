import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A new PostgreSQL schema of its own for one bench run, and the store URI that puts replicas in it
 * under an application name of their own (so that only their backends are measured or ended).
 *
 * @param {string} postgresUrl
 * @param {string} prefix e.g. 'bench_faults'
 * @returns {Promise<{ schema: string, applicationName: string, storeUri: string, admin: pg.Client, drop(): Promise<void> }>}
 */
export async function createBenchSchema(postgresUrl, prefix) {
  const schema = `${prefix}_${randomBytes(5).toString('hex')}`;
  const applicationName = `threadline_${schema}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const storeUri = new URL(postgresUrl);
  storeUri.searchParams.set('options', `-c search_path=${schema}`);
  storeUri.searchParams.set('application_name', applicationName);
  return {
    schema,
    applicationName,
    storeUri: storeUri.toString(),
    admin,
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await admin.end();
    },
  };
}

/**
 * After traces were copied into `schema` with their numbers (`traces.trace_key`, an identity
 * column), its sequence goes on after them: otherwise the next trace a server stores there is
 * given one of theirs.
 *
 * @param {pg.Client} client
 * @param {string} schema
 */
export async function continueTraceKeys(client, schema) {
  await client.query(`SELECT setval(pg_get_serial_sequence($1, 'trace_key'), (SELECT COALESCE(MAX(trace_key), 0) + 1 FROM ${schema}.traces), false)`, [`${schema}.traces`]);
}
