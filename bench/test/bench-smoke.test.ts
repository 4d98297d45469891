import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript shared with the screenshots script
import { chromiumAvailable } from '../../packages/ui/scripts/browser.mjs';
import { postgresReachable } from '../../packages/server/test/support/databases.js';

/**
 * Every benchmark, run end to end at a toy size, so none rots between the runs that fill
 * BENCHMARKS.md: each builds its data, checks both of its sides agree, and prints its result.
 * What is asserted is that they run and check, never how fast anything was.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const cacheDir = mkdtempSync(join(tmpdir(), 'threadline-bench-smoke-'));
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const requirePostgres = process.env.THREADLINE_REQUIRE_POSTGRES === '1';
const postgres = requirePostgres || (await postgresReachable());
const browser: boolean = chromiumAvailable() || process.env.THREADLINE_REQUIRE_BROWSER === '1';

afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

async function bench(script: string, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [join(root, 'bench', script), ...args, '--no-write'], { cwd: root, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

describe('benchmarks at a toy size', { timeout: 300_000 }, () => {
  it('bench:ingest writes the same rows through the server and raw', async () => {
    const out = await bench('ingest/run.js', ['--traces', '40', '--rounds', '1', '--warmup', '10']);
    expect(out).toMatch(/Checked: the server's database and both raw databases hold identical rows \(50 traces, 250 spans/);
    expect(out).toMatch(/trace_hours rows/);
    // The HTTP floor answered every call the SDK's way (the client checks each reply) and was measured.
    expect(out).toMatch(/\| HTTP floor: bare node:http[^|]*\|\s+[\d,]+ \|/);
  });

  it('bench:soak finds every acknowledged trace in the file after a kill -9', async () => {
    const out = await bench('ingest/soak.js', ['--minutes', '0.1', '--report-seconds', '2']);
    expect(out).toMatch(/\| 0:06 +\| +[\d,]+ \|/);
    expect(out).toMatch(/acknowledged traces missing or without all 5 spans: \*\*0\*\*/);
  });

  it.runIf(postgres)('bench:ingest:postgres stores every trace through two replicas', async () => {
    const out = await bench('ingest/postgres.js', ['--traces', '40', '--warmup', '10', '--postgres', postgresUrl]);
    expect(out).toMatch(/Checked: the schema holds 50 traces and 250 spans/);
    expect(out).toMatch(/PostgreSQL backends CPU µs per trace/);
  });

  it('bench:search answers every query the same on both sides, on SQLite and PostgreSQL', async () => {
    const out = await bench('search/run.js', ['--traces', '2000', '--iterations', '3', '--warmup', '1', '--cache-dir', cacheDir, '--postgres', postgresUrl, '--postgres-iterations', '3']);
    expect(out).toMatch(/checked: feedback rollups — the \d+ generated rows equal what the server's write path keeps/);
    expect(out).toMatch(/checked: cost — the [\d,]+ LLM calls of [\d,]+ traces replayed through the server's logSpans leave the same/);
    expect(out).toMatch(/text: [\d,]+ documents equal to the server's reindex/);
    // 11 queries, each checked on SQLite and on PostgreSQL.
    expect(out.match(/checked: .* both sides return the same/g)).toHaveLength(requirePostgres || !out.includes('PostgreSQL: not measured') ? 22 : 11);
    expect(out).toMatch(/Worst p50 ratio on SQLite/);
    if (requirePostgres) expect(out).toMatch(/Worst p50 ratio on PostgreSQL/);
  });

  it('bench:privacy erases a user under ingest load and finds nothing of them left, on SQLite and PostgreSQL', async () => {
    const out = await bench('privacy/run.js', [
      ...['--traces', '2000', '--user-traces', '120', '--user-sessions', '10', '--rate', '20', '--warmup', '0', '--baseline', '2', '--after', '1'],
      ...['--cache-dir', cacheDir, '--postgres', postgresUrl],
    ]);
    expect(out).toMatch(/SQLite: erase er-[0-9a-f]+ complete: 120 traces/);
    expect(out).toMatch(/Longest ingest stall during the erase: [\d.,]+ ms/);
    expect(out).not.toMatch(/FAILED/);
    expect(out.match(/checked: /g)?.length).toBeGreaterThanOrEqual(13);
    if (requirePostgres) expect(out).toMatch(/PostgreSQL: erase er-[0-9a-f]+ complete: 120 traces/);
  });

  it('bench:auth sends the same traces to a server with and without accounts', async () => {
    expect(await bench('auth/run.js', ['--traces', '30', '--rounds', '1', '--warmup', '5'])).toMatch(/auth on \/ auth off = [\d.]+/);
  });

  it('bench:sdk and bench:otlp run', async () => {
    expect(await bench('sdk/run.js', ['--calls', '300', '--rounds', '1'])).toMatch(/Threadline \/ fair bare OpenTelemetry/);
    const otlp = await bench('otlp/run.js', ['--traces', '60', '--rounds', '1']);
    expect(otlp).toMatch(/median: OTLP [\d,]+ spans\/s, MLflow REST [\d,]+ spans\/s/);
    expect(otlp).toMatch(/server CPU per span: OTLP [\d,]+ µs, MLflow REST [\d,]+ µs/);
  });

  it.runIf(browser)('bench:ui shows every first screen', async () => {
    const out = await bench('ui/run.js', ['--traces', '2000', '--iterations', '1', '--cache-dir', cacheDir]);
    expect(out.match(/^\| (Traces|Sessions|Session page|Users|User page|Overview)/gm)).toHaveLength(9);
    expect(out).toMatch(/^\| Overview with cost by model, 30 days/m);
  });
});
