/**
 * OTLP requests for tests, built as OTLP-JSON objects (hex ids, camelCase) and encoded either as
 * JSON text or, through the vendored protos, as binary protobuf exactly as exporters send it.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { KyselyTraceStore } from '../../src/store/kysely-store.js';
import { recomputeRollups } from '../../src/store/rollups.js';
import { otlpProtoTypes } from '../../src/ingest/otlp/otlp-proto.js';

export interface SpanSpec {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name?: string;
  /** Milliseconds since the epoch; default 1_790_000_000_000. */
  startMs?: number;
  endMs?: number;
  attributes?: Record<string, unknown>;
  statusCode?: number;
  statusMessage?: string;
  events?: { name: string; attributes?: Record<string, unknown> }[];
  /** SpanFlags; 0x300 marks a span whose parent is in another process. */
  flags?: number;
}

export const hexTraceId = (): string => randomBytes(16).toString('hex');
export const hexSpanId = (): string => randomBytes(8).toString('hex');

/** An OTLP-JSON AnyValue. */
export function anyValue(value: unknown): Record<string, unknown> {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  return { stringValue: JSON.stringify(value) };
}

export function keyValues(attributes: Record<string, unknown> = {}): { key: string; value: Record<string, unknown> }[] {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }));
}

export function otlpSpan(spec: SpanSpec): Record<string, unknown> {
  const start = BigInt(spec.startMs ?? 1_790_000_000_000) * 1_000_000n;
  const end = BigInt(spec.endMs ?? (spec.startMs ?? 1_790_000_000_000) + 10) * 1_000_000n;
  return {
    traceId: spec.traceId,
    spanId: spec.spanId,
    ...(spec.parentSpanId ? { parentSpanId: spec.parentSpanId } : {}),
    ...(spec.flags !== undefined ? { flags: spec.flags } : {}),
    name: spec.name ?? 'span',
    kind: 1,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(end),
    attributes: keyValues(spec.attributes),
    ...(spec.events ? { events: spec.events.map((e) => ({ name: e.name, timeUnixNano: String(end), attributes: keyValues(e.attributes) })) } : {}),
    status: { code: spec.statusCode ?? 0, ...(spec.statusMessage !== undefined ? { message: spec.statusMessage } : {}) },
  };
}

/** An ExportTraceServiceRequest (OTLP-JSON object) with one resource and one scope. */
export function otlpRequest(spans: SpanSpec[], resource: Record<string, unknown> = { 'service.name': 'test' }): Record<string, unknown> {
  return {
    resourceSpans: [{ resource: { attributes: keyValues(resource) }, scopeSpans: [{ scope: { name: 'test' }, spans: spans.map(otlpSpan) }] }],
  };
}

/** The same request as binary protobuf: hex ids become bytes. */
export function toProtobuf(request: Record<string, unknown>): Buffer {
  const { ExportTraceServiceRequest } = otlpProtoTypes();
  const withBytes = JSON.parse(JSON.stringify(request), (key, value: unknown) =>
    (key === 'traceId' || key === 'spanId' || key === 'parentSpanId') && typeof value === 'string' ? Buffer.from(value, 'hex').toString('base64') : value,
  ) as Record<string, unknown>;
  return Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(withBytes)).finish());
}

/** Rows in every table a trace write touches: compared before and after a refused request. */
const COUNTED_TABLES = ['traces', 'trace_metadata', 'trace_tags', 'spans', 'trace_text_docs', 'sessions', 'users', 'session_users', 'trace_hours'] as const;

export async function tableCounts(store: KyselyTraceStore): Promise<Record<(typeof COUNTED_TABLES)[number], number>> {
  const counts = {} as Record<(typeof COUNTED_TABLES)[number], number>;
  for (const table of COUNTED_TABLES) {
    const row = await store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    counts[table] = Number(row.n);
  }
  return counts;
}

/** Rollup rows as stored, then as rebuilt from the traces: equal when increments were exact. */
export async function rollupsAreExact(store: KyselyTraceStore, experimentId = 0): Promise<void> {
  const snapshot = async () => ({
    sessions: await store.db.selectFrom('sessions').selectAll().where('experiment_id', '=', experimentId).orderBy('session_id').execute(),
    users: await store.db.selectFrom('users').selectAll().where('experiment_id', '=', experimentId).orderBy('user_id').execute(),
    links: await store.db.selectFrom('session_users').selectAll().where('experiment_id', '=', experimentId).orderBy('session_id').orderBy('user_id').execute(),
  });
  const incremental = await snapshot();
  const traces = await store.db.selectFrom('traces').select(['session_id', 'user_id']).where('experiment_id', '=', experimentId).execute();
  await store.db.transaction().execute((trx) =>
    recomputeRollups(trx, experimentId, traces.flatMap((t) => t.session_id ?? []), traces.flatMap((t) => t.user_id ?? [])),
  );
  expect(incremental).toEqual(await snapshot());
}
