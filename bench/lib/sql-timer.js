/**
 * Preloaded into a server (`node --import bench/lib/sql-timer.js`): times every statement the
 * process runs through better-sqlite3, by SQL text, and writes the totals as JSON to
 * `$SQL_TIMER_OUT` when the process exits (a server exits on SIGTERM). For finding which
 * statements a workload's time goes to; it adds a clock read around each statement.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const probe = new Database(':memory:');
const Statement = Object.getPrototypeOf(probe.prepare('SELECT 1'));
probe.close();

/** @type {Map<string, { calls: number, micros: number }>} */
const totals = new Map();
const record = (text, started) => {
  const key = text.replace(/\s+/g, ' ').slice(0, 160);
  const entry = totals.get(key) ?? { calls: 0, micros: 0 };
  entry.calls++;
  entry.micros += Number(process.hrtime.bigint() - started) / 1000;
  totals.set(key, entry);
};
for (const method of ['run', 'get', 'all']) {
  const original = Statement[method];
  Statement[method] = function timed(...args) {
    const started = process.hrtime.bigint();
    try {
      return original.apply(this, args);
    } finally {
      record(this.source, started);
    }
  };
}
const exec = Database.prototype.exec;
Database.prototype.exec = function timedExec(text) {
  const started = process.hrtime.bigint();
  try {
    return exec.call(this, text);
  } finally {
    record(text, started);
  }
};
process.on('exit', () => {
  const out = process.env.SQL_TIMER_OUT;
  if (out) writeFileSync(out, JSON.stringify([...totals].sort((a, b) => b[1].micros - a[1].micros)));
});
