/**
 * An object, or the JSON text of one, as an object; else null. Attribute and metadata values
 * arrive either way: OTLP carries objects as strings, metadata values are text, decoded span
 * attributes are objects. Dependency-free: the UI imports it too.
 *
 * @example
 * objectOf('{"total_cost": 0.5}') // { total_cost: 0.5 }
 * objectOf('[1]') // null
 */
export function objectOf(value: unknown): Record<string, unknown> | null {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}
