/**
 * What feedback.js and cost.js share: an addition to the search database written in a pass of its
 * own, with a version kept in a table of the file (so a cached database gains a newer one without
 * a rebuild), and checked against the server's write path on a throw-away copy.
 */
import { copyFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';

/** Up to this many traces, an addition is also checked against the server's write path. */
const VERIFY_UP_TO = 20_000;

/**
 * Writes an addition into the database at `path` unless its `table` says it has `version` already,
 * then checks it when asked (`verify`) or when it was just written to a small database.
 * `write(db)` writes the rows and the version in `table`, and answers how many traces it covered
 * and what to log of it; `check(path, log)` compares with the server's write path.
 * @param {{ path: string, table: string, version: number, write: (db: Database.Database) => { traces: number, added: string }, check: (path: string, log: (line: string) => void) => Promise<void>, log: (line: string) => void, verify?: boolean }} o
 */
export async function ensureAddition({ path, table, version, write, check, log, verify }) {
  const db = new Database(path);
  let written;
  try {
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (version INTEGER NOT NULL)`);
    const have = db.prepare(`SELECT version FROM ${table}`).get()?.version;
    if (have === version && !verify) return;
    if (have !== version) {
      const started = performance.now();
      written = write(db);
      log(`database: added ${written.added} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    db.close();
  }
  if (verify ?? (written && written.traces <= VERIFY_UP_TO)) await check(path, log);
}

/** Runs `use(copyPath)` on a copy of the database at `path`, removed afterwards. */
export async function onCopy(path, use) {
  const copy = `${path}.verify`;
  const remove = () => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true });
  };
  remove();
  copyFileSync(path, copy);
  try {
    return await use(copy);
  } finally {
    remove();
  }
}
