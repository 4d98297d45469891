import { useState } from 'react';
import { Highlighted } from './Highlight';

/** A collapsible JSON tree, rendered as text nodes only (trace content is untrusted). */
export function JsonView({ value, depth = 0, name }: { value: unknown; depth?: number; name?: string }) {
  const [open, setOpen] = useState(depth < 3);
  const label = name !== undefined ? <span className="json-key">{JSON.stringify(name)}: </span> : null;
  if (value === null || typeof value !== 'object') {
    return (
      <div className="json-line">
        {label}
        <JsonScalar value={value} />
      </div>
    );
  }
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value as Record<string, unknown>);
  const [openMark, closeMark] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) {
    return (
      <div className="json-line">
        {label}
        <span className="json-punct">{openMark + closeMark}</span>
      </div>
    );
  }
  return (
    <div className="json-node">
      <button className="json-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
        <span className="json-caret">{open ? '▾' : '▸'}</span>
        {label}
        <span className="json-punct">{openMark}</span>
        {!open && <span className="json-summary"> {entries.length} {Array.isArray(value) ? 'items' : 'keys'} {closeMark}</span>}
      </button>
      {open && (
        <div className="json-children">
          {entries.map(([k, v]) => (
            <JsonView key={k} value={v} depth={depth + 1} {...(Array.isArray(value) ? {} : { name: k })} />
          ))}
          <div className="json-punct">{closeMark}</div>
        </div>
      )}
    </div>
  );
}

function JsonScalar({ value }: { value: unknown }) {
  // Quoted, but as the text it is: JSON's escapes (\" \n) would only get in the reader's way.
  // Only values are searched words (never the keys), so only they are marked.
  if (typeof value === 'string') {
    return (
      <span className="json-string">
        "<Highlighted text={value} />"
      </span>
    );
  }
  if (typeof value === 'number' || typeof value === 'bigint') return <span className="json-number">{String(value)}</span>;
  if (typeof value === 'boolean') return <span className="json-bool">{String(value)}</span>;
  if (value === undefined) return <span className="json-null">undefined</span>;
  return <span className="json-null">null</span>;
}
