import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api';

/**
 * A trace's tags, editable in place: × removes one (DELETE), + adds or replaces one as
 * `key=value` (PATCH). Only user-facing tags are listed; `mlflow.*` ones are MLflow's own.
 */
export function TagCell({ traceId, tags, onChanged }: { traceId: string; tags: [string, string][]; onChanged?: () => void }) {
  const client = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const done = () => {
    void client.invalidateQueries({ queryKey: ['traces'] });
    void client.invalidateQueries({ queryKey: ['trace', traceId] });
    onChanged?.();
  };
  const set = useMutation({
    mutationFn: ({ key, value }: { key: string; value: string }) => api.setTag(traceId, key, value),
    onSuccess: () => {
      setEditing(false);
      setText('');
      setError(null);
      done();
    },
    onError: (e) => setError((e as Error).message),
  });
  const remove = useMutation({ mutationFn: (key: string) => api.deleteTag(traceId, key), onSuccess: done, onError: (e) => setError((e as Error).message) });
  const submit = () => {
    const eq = text.indexOf('=');
    const key = (eq < 0 ? text : text.slice(0, eq)).trim();
    if (!key) return setError('Write key=value');
    set.mutate({ key, value: eq < 0 ? '' : text.slice(eq + 1).trim() });
  };
  return (
    <div className="tags no-open" data-testid="tags">
      {tags.map(([k, v]) => (
        <span key={k} className="tag" title={`${k}=${v}`}>
          <span className="tag-k">{k}</span>
          {v !== '' && <span className="tag-v">{v}</span>}
          <button className="tag-x" aria-label={`Remove tag ${k}`} onClick={() => remove.mutate(k)}>
            ×
          </button>
        </span>
      ))}
      {editing ? (
        <input
          autoFocus
          className="tag-input"
          aria-label="New tag as key=value"
          data-testid="tag-input"
          placeholder="key=value"
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            e.stopPropagation();
            if (e.key === 'Enter') submit();
            if (e.key === 'Escape') (setEditing(false), setError(null));
          }}
          onBlur={() => !text && setEditing(false)}
        />
      ) : (
        <button className="tag-add" aria-label="Add a tag" data-testid="tag-add" onClick={() => setEditing(true)}>
          +
        </button>
      )}
      {error && (
        <span className="tag-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
