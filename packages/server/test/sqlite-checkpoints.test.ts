/**
 * A SQLite store's WAL is copied into its database file by a thread of its own (CheckpointThread),
 * not by the writing connection on the event loop: the file alone holds what was committed soon
 * after, though the store's own connection would not checkpoint before its backstop of pages.
 */
import BetterSqlite3 from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKSTOP_AUTOCHECKPOINT_PAGES } from '../src/store/sqlite/checkpoint-thread.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { newTraceId } from './support/mlflow-payloads.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'threadline-checkpoints-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Traces in the database file as it is on disk, without its WAL. */
function tracesInFileAlone(path: string, copy: string): number {
  copyFileSync(path, copy);
  rmSync(`${copy}-wal`, { force: true });
  const db = new BetterSqlite3(copy, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM traces').get() as { n: number }).n;
  } catch {
    // Before the first checkpoint the file may not hold the schema yet.
    return 0;
  } finally {
    db.close();
  }
}

describe('SQLite checkpoints', () => {
  it('are made by the checkpoint thread: the database file alone holds committed traces soon after', { timeout: 30_000 }, async () => {
    const path = join(dir, 'store.db');
    const store = await openSqliteStore({ path });
    try {
      const experimentId = await store.createExperiment({ name: 'checkpoints' });
      const traces = 300;
      await Promise.all(
        Array.from({ length: traces }, (_, i) =>
          store.startTrace({
            traceId: newTraceId(),
            experimentId,
            clientRequestId: null,
            requestTimeMs: Date.UTC(2026, 11, 6) + i,
            executionDurationMs: 5,
            state: 'OK',
            requestPreview: 'x'.repeat(2_000),
            responsePreview: null,
            metadata: { 'mlflow.trace.user': `u-${i % 3}` },
            tags: {},
          }),
        ),
      );
      const walPages = statSync(`${path}-wal`).size / 4096;
      // Far from the point where the store's own connection would copy the WAL itself.
      expect(walPages).toBeGreaterThan(0);
      expect(walPages).toBeLessThan(BACKSTOP_AUTOCHECKPOINT_PAGES / 4);
      let inFile = 0;
      for (let waited = 0; waited < 10_000 && inFile < traces; waited += 100) {
        await sleep(100);
        inFile = tracesInFileAlone(path, join(dir, 'copy.db'));
      }
      expect(inFile).toBe(traces);
    } finally {
      await store.close();
    }
  });
});
