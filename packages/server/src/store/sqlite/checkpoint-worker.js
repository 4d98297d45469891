// @ts-check
/**
 * The checkpoint thread (see checkpoint-thread.ts): copies what the store's connection committed
 * to the WAL into the database file, on a connection of its own, so that the event loop never
 * waits for a checkpoint. PASSIVE: it never waits for the writer or for readers, and copies what
 * it can; SQLite resets the WAL at the writer's next transaction once all of it was copied.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const port = parentPort;
if (!port) throw new Error('checkpoint-worker.js runs as a worker thread');
/** @type {{ path: string, intervalMillis: number }} */
const { path, intervalMillis } = workerData;
const database = new Database(path, { fileMustExist: true });
database.pragma('busy_timeout = 1000');
// This connection only checkpoints; it never writes rows, so it never checkpoints on its own.
database.pragma('wal_autocheckpoint = 0');

const timer = setInterval(() => {
  try {
    database.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
  } catch (error) {
    // SQLITE_BUSY (another checkpoint under way, an erase's TRUNCATE) is tried again next time.
    if (!(error instanceof Error && 'code' in error && String(error.code).startsWith('SQLITE_BUSY'))) throw error;
  }
}, intervalMillis);

port.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  database.close();
  port.close();
});
