#!/usr/bin/env node
/**
 * Where the server's writes go: which table or index each page written to the WAL belongs to,
 * per trace, for the bench:ingest workload sent to a real `threadline server` on SQLite.
 *
 * While the measured traces are sent, a second connection holds a read transaction open, so the
 * WAL cannot be reset under it and keeps every frame the server writes. Afterwards each frame's
 * page is named by SQLite's own `dbstat` table. "frames" are pages written to the WAL (each is
 * written to the database file again at the next checkpoint, once per checkpoint however often it
 * was written before); "distinct pages" are the different pages among them.
 *
 * Usage: node bench/ingest/page-writes.js [--traces N --warmup W --concurrency C]
 */
import BetterSqlite3 from 'better-sqlite3';
import { mkdtempSync, openSync, readSync, fstatSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { log, positiveOption } from '../lib/cli.js';
import { startServerProcess } from '../lib/server-process.js';
import { fmt, markdownTable } from '../lib/stats.js';
import { sendTraces } from './http-load.js';
import { makeTraceSet } from './workload.js';

const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    seed: { type: 'string', default: '20260115' },
  },
});
const N = positiveOption(args, 'traces');
const WARMUP = positiveOption(args, 'warmup');
const CONCURRENCY = positiveOption(args, 'concurrency');
const SEED = Number(args.seed) || 1;

const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

const dir = mkdtempSync(join(tmpdir(), 'threadline-page-writes-'));
const dbPath = join(dir, 'server.db');
const server = await startServerProcess({ dbPath });
try {
  await sendTraces(server.url, makeTraceSet(WARMUP, SEED, 0), CONCURRENCY);
  const reader = new BetterSqlite3(dbPath, { readonly: true });
  // A snapshot held open from here: the server's checkpoints cannot reset the WAL under it.
  reader.exec('BEGIN');
  reader.prepare('SELECT count(*) FROM traces').get();
  const start = validFrames(`${dbPath}-wal`).length;
  const load = await sendTraces(server.url, makeTraceSet(N, SEED + 1, 1), CONCURRENCY);
  const frames = validFrames(`${dbPath}-wal`).slice(start);
  reader.exec('COMMIT');
  const owners = new Map(reader.prepare('SELECT pageno, name FROM dbstat').all().map((r) => [r.pageno, r.name]));
  const pageSize = reader.pragma('page_size', { simple: true });
  // What the stored traces take, per table and index (issue 16's storage goal is against this).
  const stored = reader.prepare('SELECT name, SUM(pgsize) AS bytes, SUM(payload) AS payload FROM dbstat GROUP BY name ORDER BY bytes DESC').all();
  const storedTraces = reader.prepare('SELECT count(*) AS n FROM traces').get().n;
  reader.close();

  const commits = frames.filter((f) => f.commit).length;
  const byOwner = new Map();
  for (const frame of frames) {
    const name = owners.get(frame.page) ?? '(free or overflow list)';
    const entry = byOwner.get(name) ?? { frames: 0, pages: new Set() };
    entry.frames++;
    entry.pages.add(frame.page);
    byOwner.set(name, entry);
  }
  const rows = [...byOwner.entries()].sort((a, b) => b[1].frames - a[1].frames);
  const kibPerTrace = (pages) => fmt((pages * pageSize) / 1024 / N, 2);
  log(`${fmt(N)} traces after ${fmt(WARMUP)} warm-up, ${CONCURRENCY} in flight, ${fmt((N * 1000) / load.elapsedMs)} traces/s; ${fmt(commits)} commits (${fmt(N / commits, 1)} traces each); page ${pageSize} B`);
  log(`WAL frames: ${fmt(frames.length)} (${kibPerTrace(frames.length)} KiB per trace), distinct pages ${fmt(new Set(frames.map((f) => f.page)).size)}`);
  log();
  log(
    markdownTable(
      ['table or index', 'frames', 'KiB/trace in WAL', 'distinct pages', 'frames per commit'],
      rows.map(([name, e]) => [name, fmt(e.frames), kibPerTrace(e.frames), fmt(e.pages.size), fmt(e.frames / commits, 1)]),
      ['l', 'r', 'r', 'r', 'r'],
    ),
  );
  const totalBytes = stored.reduce((n, r) => n + r.bytes, 0);
  log();
  log(`Stored: ${fmt(totalBytes / 1024 / storedTraces, 2)} KiB per trace in the file (${fmt(storedTraces)} traces), by table or index:`);
  log();
  log(
    markdownTable(
      ['table or index', 'KiB per trace', 'of which payload'],
      stored.filter((r) => r.bytes / storedTraces >= 10).map((r) => [r.name, fmt(r.bytes / 1024 / storedTraces, 2), fmt(r.payload / 1024 / storedTraces, 2)]),
      ['l', 'r', 'r'],
    ),
  );
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** The frames of the WAL's current generation (salts matching its header), in order. */
function validFrames(walPath) {
  const fd = openSync(walPath, 'r');
  try {
    const size = fstatSync(fd).size;
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    readSync(fd, header, 0, WAL_HEADER_BYTES, 0);
    const pageSize = header.readUInt32BE(8);
    const salt1 = header.readUInt32BE(16);
    const salt2 = header.readUInt32BE(20);
    const frames = [];
    const frameHeader = Buffer.alloc(FRAME_HEADER_BYTES);
    for (let offset = WAL_HEADER_BYTES; offset + FRAME_HEADER_BYTES + pageSize <= size; offset += FRAME_HEADER_BYTES + pageSize) {
      readSync(fd, frameHeader, 0, FRAME_HEADER_BYTES, offset);
      if (frameHeader.readUInt32BE(8) !== salt1 || frameHeader.readUInt32BE(12) !== salt2) break;
      frames.push({ page: frameHeader.readUInt32BE(0), commit: frameHeader.readUInt32BE(4) !== 0 });
    }
    return frames;
  } finally {
    closeSync(fd);
  }
}
