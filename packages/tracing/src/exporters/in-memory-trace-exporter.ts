import type { SpanJson, TraceInfoJson } from '@threadline/protocol';
import { DEFAULT_EXPERIMENT_ID } from '@threadline/protocol';
import { spansJsonText } from '../json-text.js';
import { exportResult, type ExportResult, type FinishedTrace, type TraceExporter } from './trace-exporter.js';

/** A trace as an in-memory exporter keeps it: the JSON the REST exporter would send. */
export interface ExportedTrace {
  info: TraceInfoJson;
  spans: SpanJson[];
}

export interface InMemoryTraceExporterOptions {
  /** Experiment id written into each trace's location. Default `"0"`. */
  experimentId?: string;
  /**
   * Keep only a count, not the traces: a sink for benchmarks. Default false. */
  discard?: boolean;
  /** With `discard`: still build the request bodies the REST exporter would send, then drop them. */
  serialize?: boolean;
}

/**
 * Keeps exported traces in memory, for tests (and, with `discard`, as a benchmark sink).
 *
 * @example
 * const exporter = new InMemoryTraceExporter();
 * init({ exporter });
 * trace(() => 42, { name: 'answer' })();
 * await flushTraces();
 * exporter.getTraces()[0]?.info.response_preview; // '42'
 */
export class InMemoryTraceExporter implements TraceExporter {
  private readonly traces: ExportedTrace[] = [];
  private readonly experimentId: string;
  private count = 0;

  constructor(private readonly options: InMemoryTraceExporterOptions = {}) {
    this.experimentId = options.experimentId ?? DEFAULT_EXPERIMENT_ID;
  }

  export(traces: readonly FinishedTrace[]): Promise<ExportResult> {
    for (const trace of traces) {
      this.count++;
      if (this.options.discard) {
        if (this.options.serialize) {
          // The two request bodies the REST exporter would send.
          JSON.stringify({ trace: { trace_info: trace.traceInfo(this.experimentId) } });
          spansJsonText(trace.spanJson());
        }
        continue;
      }
      this.traces.push({ info: trace.traceInfo(this.experimentId), spans: trace.spanJson() });
    }
    return Promise.resolve(exportResult([]));
  }

  /** Traces exported so far, oldest first. */
  getTraces(): ExportedTrace[] {
    return [...this.traces];
  }

  /** How many traces were exported (also when discarding). */
  get exportedCount(): number {
    return this.count;
  }

  reset(): void {
    this.traces.length = 0;
    this.count = 0;
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
