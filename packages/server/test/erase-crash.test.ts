import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-store.js';
import { hexSpanId, hexTraceId } from './support/otlp-payloads.js';
import { runCli, startServerProcess, stopAllServerProcesses } from './support/server-process.js';

const T0 = Date.UTC(2026, 10, 12, 9);
const JSON_HEADERS = { 'content-type': 'application/json' };
const TRACES = 3000;

/**
 * A real `threadline server` killed with SIGKILL in the middle of erasing a user with thousands
 * of traces: the receipt says how far it got, and the next server to start finishes the erase.
 * Then the CLI erases a session on the same file.
 */
describe('an erase interrupted by kill -9', () => {
  const dir = mkdtempSync(join(tmpdir(), 'threadline-erase-crash-'));
  const uri = `sqlite:///${join(dir, 'store.db')}`;
  afterAll(async () => {
    await stopAllServerProcesses();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is completed by the next server, exactly', { timeout: 120_000 }, async () => {
    const store = await createStore(uri);
    try {
      for (let i = 0; i < TRACES; i++) {
        const user = i % 10 === 0 ? 'frank' : 'eve';
        await store.ingestSpans('0', `tr-${hexTraceId()}`, { metadata: { 'mlflow.trace.user': user, 'mlflow.trace.session': `s-${user}-${i % 7}` }, tags: {}, name: null }, [
          { spanId: hexSpanId(), parentSpanId: null, name: 'turn', type: 'CHAIN', status: 'OK', statusMessage: '', startNs: BigInt(T0 + i * 1000) * 1_000_000n, endNs: BigInt(T0 + i * 1000 + 5) * 1_000_000n, events: [], attributes: { 'mlflow.spanInputs': `message ${i}` } },
        ]);
      }
    } finally {
      await store.close();
    }
    const eves = TRACES - TRACES / 10;

    const env = { THREADLINE_ERASE_LEASE_MS: '1000' };
    const first = await startServerProcess({ backendStoreUri: uri, env });
    void fetch(`${first.url}/api/threadline/users/eve/erase`, { method: 'POST', headers: JSON_HEADERS, body: '{"experiment_id": "0"}' }).catch(() => undefined);
    // Killed once some batches are committed, well before all are.
    type Listed = { erasure_id: string; counts: { traces?: number }; state: string };
    let partial: Listed | undefined;
    for (let i = 0; i < 500 && !partial; i++) {
      const listed = (await (await fetch(`${first.url}/api/threadline/erasures`)).json()) as { erasures: Listed[] };
      const found = listed.erasures[0];
      if (found && (found.counts.traces ?? 0) > 0) partial = found;
      else await new Promise((r) => setTimeout(r, 10));
    }
    await first.kill();
    expect(partial).toBeDefined();

    const second = await startServerProcess({ backendStoreUri: uri, env });
    const receiptOf = async () => ((await (await fetch(`${second.url}/api/threadline/erasures/${partial!.erasure_id}`)).json()) as { erasure: { state: string; counts: { traces: number } } }).erasure;
    const atRestart = await receiptOf();
    expect(atRestart.counts.traces).toBeLessThan(eves);
    let receipt = atRestart;
    for (let i = 0; i < 300 && receipt.state !== 'complete'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      receipt = await receiptOf();
    }
    expect(receipt).toMatchObject({ state: 'complete', counts: { traces: eves, spans: eves } });
    const users = (await (await fetch(`${second.url}/api/threadline/users/search`, { method: 'POST', headers: JSON_HEADERS, body: '{"experiment_id": "0"}' })).json()) as { users: { user_id: string; trace_count: number }[] };
    expect(users.users).toEqual([expect.objectContaining({ user_id: 'frank', trace_count: TRACES / 10 })]);
    await second.stop();

    const cli = await runCli(['erase-session', 's-frank-0', '--experiment-id', '0', '--backend-store-uri', uri]);
    expect(cli.stderr).toBe('');
    expect(JSON.parse(cli.stdout)).toMatchObject({ kind: 'session', state: 'complete', counts: { traces: Math.ceil(TRACES / 10 / 7) } });
    const missing = await runCli(['erase-session', 's-x', '--backend-store-uri', uri]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--experiment-id is required/);
  });
});
