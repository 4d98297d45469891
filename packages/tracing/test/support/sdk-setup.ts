import { flushTraces, init, InMemoryTraceExporter, type ExportedTrace, type InitOptions, type Logger } from '@threadline/tracing';

/** A logger that remembers what it was told. */
export function recordingLogger(): Logger & { messages: { level: string; message: string }[] } {
  const messages: { level: string; message: string }[] = [];
  const keep = (level: string) => (message: string) => void messages.push({ level, message });
  return { messages, error: keep('error'), warn: keep('warn'), info: keep('info'), debug: keep('debug') };
}

/** Initialises the SDK with an in-memory exporter (re-initialising replaces the previous one). */
export function initInMemory(options: InitOptions = {}): InMemoryTraceExporter {
  const exporter = new InMemoryTraceExporter();
  init({ exporter, scheduledDelayMillis: 0, logger: recordingLogger(), ...options });
  return exporter;
}

/** Flushes and returns everything exported so far. */
export async function exportedTraces(exporter: InMemoryTraceExporter): Promise<ExportedTrace[]> {
  await flushTraces({ timeoutMillis: 5000 });
  return exporter.getTraces();
}
