/**
 * A trace as the tracking server stores and serves it, as raw text: its info (GET
 * /api/3.0/mlflow/traces/{id}), the listing that search returns for it, and its spans (the
 * traces.json artifact). What a test asserts a secret is absent from: every byte the server keeps.
 */
export async function storedTraceText(trackingUri: string, traceId: string): Promise<{ info: string; search: string; spans: string }> {
  const infoReply = await fetch(`${trackingUri}/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}`);
  if (!infoReply.ok) throw new Error(`GET trace info ${traceId}: ${infoReply.status}`);
  const info = await infoReply.text();
  const parsed = JSON.parse(info) as { trace: { trace_info: { tags: Record<string, string>; trace_location: { mlflow_experiment: { experiment_id: string } } } } };
  const { tags, trace_location } = parsed.trace.trace_info;
  const location = new URL(tags['mlflow.artifactLocation']!).pathname.replace(/^\/+/, '');
  const spansReply = await fetch(`${trackingUri}/api/2.0/mlflow-artifacts/artifacts/${location}/traces.json`);
  if (!spansReply.ok) throw new Error(`GET traces.json of ${traceId}: ${spansReply.status}`);
  const searchReply = await fetch(`${trackingUri}/api/3.0/mlflow/traces/search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: trace_location.mlflow_experiment.experiment_id } }], max_results: 1000 }),
  });
  const listing = ((await searchReply.json()) as { traces?: { trace_id: string }[] }).traces ?? [];
  return { info, search: JSON.stringify(listing.find((t) => t.trace_id === traceId) ?? null), spans: await spansReply.text() };
}
