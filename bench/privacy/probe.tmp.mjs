// Dev probe: time each erase batch and the statements inside, in process.
import BetterSqlite3 from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
const root = '/work/wt-bench-erase';
const { openSqliteStore } = await import(`${root}/packages/server/dist/index.js`);
const { writeSubject, SUBJECT } = await import(`${root}/bench/privacy/subject.js`);
const src = process.argv[2];
const userTraces = Number(process.argv[3] ?? 2000);
const batch = process.argv[4] ? Number(process.argv[4]) : undefined;
const dir = mkdtempSync('/tmp/privacy-probe-');
const copy = join(dir, 'p.db');
execFileSync('cp', ['--reflink=auto', src, copy]);
// Time statements by SQL text.
const probe = new BetterSqlite3(':memory:');
const Statement = Object.getPrototypeOf(probe.prepare('select 1'));
const times = new Map();
let on = false;
for (const m of ['all', 'run', 'get', 'iterate']) {
  const orig = Statement[m];
  Statement[m] = function (...a) {
    if (!on) return orig.apply(this, a);
    const t = performance.now();
    try { return orig.apply(this, a); } finally {
      const k = this.source.replace(/\s+/g, ' ').slice(0, 160);
      const e = times.get(k) ?? { n: 0, ms: 0, max: 0 };
      const d = performance.now() - t;
      e.n++; e.ms += d; e.max = Math.max(e.max, d); times.set(k, e);
    }
  };
}
let raw;
const origPragma = BetterSqlite3.prototype.pragma;
BetterSqlite3.prototype.pragma = function (text, ...rest) {
  if (text === 'secure_delete = ON') { raw = this; if (process.env.NOAUTO) origPragma.call(this, 'wal_autocheckpoint = 0'); if (process.env.SDOFF) return; }
  return origPragma.call(this, text, ...rest);
};
const ckpt = [];
const store = await openSqliteStore({ path: copy, searchThreads: 0 });
const ds = (await store.db.selectFrom('sessions').select('session_id').where('experiment_id', '=', 1).where('user_count', '>=', 2).orderBy('session_id').limit(5).execute()).map((r) => r.session_id);
const du = (await store.db.selectFrom('users').select('user_id').where('experiment_id', '=', 1).orderBy('user_id').limit(1).executeTakeFirstOrThrow()).user_id;
let t = performance.now();
await writeSubject(store, { experimentId: '1', traces: userTraces, sessions: 100, datasetSessions: ds, datasetUser: du });
console.log(`subject written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
const id = await store.erasures.start('user', SUBJECT, ['1'], 'probe');
on = true;
const batches = [];
let last = performance.now();
t = last;
const receipt = await store.erasures.run(id, { ...(batch ? { batchSize: batch } : {}), afterBatch: async () => { const now = performance.now(); batches.push(now - last); if (process.env.NOAUTO) { const c = performance.now(); const r = origPragma.call(raw, 'wal_checkpoint(PASSIVE)'); ckpt.push([performance.now() - c, r[0].log]); } last = performance.now(); } });
const total = performance.now() - t;
const finish = performance.now() - last;
on = false;
batches.sort((a, b) => a - b);
const pct = (p) => batches[Math.min(batches.length - 1, Math.floor(p / 100 * batches.length))];
console.log(`erase ${receipt.counts.traces} traces in ${total.toFixed(0)} ms; ${batches.length} batches p50 ${pct(50).toFixed(1)} p90 ${pct(90).toFixed(1)} max ${batches.at(-1).toFixed(1)} ms; finish ${finish.toFixed(0)} ms`);
console.log(JSON.stringify(receipt.counts)); if (ckpt.length) console.log('checkpoints ms/pages', ckpt.map(([ms, pages]) => `${ms.toFixed(0)}/${pages}`).join(' '));
const rows = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
for (const [k, e] of rows) console.log(`${e.ms.toFixed(0).padStart(7)} ms ${String(e.n).padStart(6)}x max ${e.max.toFixed(1).padStart(7)}  ${k}`);
await store.close();
rmSync(dir, { recursive: true, force: true });
