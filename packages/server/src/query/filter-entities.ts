/**
 * The prefixes of the filter language's dotted names and what they mean (reference §6), and the
 * keys that must be quoted after them. Case-sensitive, as in MLflow. Imports nothing, so that the web UI can read filters with it.
 */
export type Entity = 'attribute' | 'tag' | 'metadata' | 'span' | 'feedback' | 'expectation' | 'issue';

export const ENTITIES: ReadonlyMap<string, Entity> = new Map([
  ['attribute', 'attribute'],
  ['attributes', 'attribute'],
  ['trace', 'attribute'],
  ['tag', 'tag'],
  ['tags', 'tag'],
  ['metadata', 'metadata'],
  ['request_metadata', 'metadata'],
  ['span', 'span'],
  ['feedback', 'feedback'],
  ['expectation', 'expectation'],
  ['issue', 'issue'],
]);

/**
 * Keys MLflow silently reinterprets under any prefix but `span.` (reference §5, "key remapping").
 * Threadline refuses them unquoted (decision 2) and says what to write instead.
 */
export const REMAPPED_KEYS: ReadonlyMap<string, string> = new Map([
  ['name', 'trace.name'],
  ['run_id', 'trace.run_id'],
  ['timestamp', 'trace.timestamp_ms'],
  ['timestamp_ms', 'trace.timestamp_ms'],
  ['prompt', 'prompt'],
  ['text', 'trace.text'],
]);
