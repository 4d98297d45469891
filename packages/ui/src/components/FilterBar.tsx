import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { ApiError } from '../api';
import { errorSpan } from '../filters';
import { isTypingIn } from '../keys';
import { isWordSearch } from '../word-search';
import { useFilterCompletion, type CompletionSource } from './FilterCompletion';

interface FilterBarProps {
  value: string;
  onSubmit: (text: string) => void;
  placeholder: string;
  /** The last search's error, when it was the filter's fault. */
  error: unknown;
  /** Where the typed text starts in the filter the server saw (see combineTraceFilter). */
  textOffset?: number;
  examples?: string[];
  /** Told when the input holds text not yet applied, and when it no longer does. */
  onEditingChange?: (editing: boolean) => void;
  /** The language and experiment to complete fields, keys and ids of; no completion without. */
  completion?: CompletionSource;
}

/**
 * The filter language input. Enter applies, Escape reverts; `/` anywhere focuses it. Plain words
 * are a word search (filters.ts typedFilter), which a "words" mark says as they are typed. Fields,
 * keys and ids are offered as the filter is typed (FilterCompletion.tsx). A 400 shows the server's
 * message under the input with the offending token marked (and selected in the input).
 */
export function FilterBar({ value, onSubmit, placeholder, error, textOffset = 0, examples, onEditingChange, completion }: FilterBarProps) {
  const [text, setText] = useState(value);
  const input = useRef<HTMLInputElement>(null);
  // Where the caret goes once an accepted suggestion is in the text.
  const caretAfterRender = useRef<number | null>(null);
  const complete = useFilterCompletion(completion, text, (next, caret) => {
    caretAfterRender.current = caret;
    setText(next);
  });
  useLayoutEffect(() => {
    if (caretAfterRender.current === null || !input.current) return;
    input.current.setSelectionRange(caretAfterRender.current, caretAfterRender.current);
    caretAfterRender.current = null;
  }, [text]);
  useEffect(() => setText(value), [value]);
  useEffect(() => onEditingChange?.(text !== value), [text, value, onEditingChange]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === '/' && !e.ctrlKey && !e.metaKey && !isTypingIn(e.target)) {
        e.preventDefault();
        input.current?.focus();
        input.current?.select();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const apiError = error instanceof ApiError && error.status === 400 ? error : null;
  const span = apiError ? errorSpan(apiError.message, value, textOffset) : null;
  useEffect(() => {
    if (span && input.current && document.activeElement === input.current) input.current.setSelectionRange(span.start, span.end);
  }, [apiError?.message]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <div className="filterbar">
      <div className={`filter-input ${apiError ? 'has-error' : ''}`}>
        <span className="filter-icon" aria-hidden>
          ⌕
        </span>
        <input
          ref={input}
          type="text"
          spellCheck={false}
          aria-label="Filter"
          aria-invalid={apiError ? true : undefined}
          data-testid="filter-input"
          placeholder={placeholder}
          value={text}
          {...(completion ? complete.inputProps : {})}
          onChange={(e) => {
            setText(e.target.value);
            complete.typed(e.target.selectionStart ?? e.target.value.length);
          }}
          onKeyDown={(e) => {
            if (completion && complete.onKeyDown(e)) return;
            if (e.key === 'Enter') {
              complete.close();
              onSubmit(text);
            }
            if (e.key === 'Escape') {
              setText(value);
              input.current?.blur();
            }
          }}
        />
        {isWordSearch(text) && (
          <span className="filter-mode" data-testid="filter-mode" title="Plain words: the search finds the traces whose inputs or outputs have them all (trace.text MATCH). A comparison, quotes or parentheses make it a filter.">
            words
          </span>
        )}
        {text !== value && <span className="filter-hint">↵ to apply</span>}
        {value && (
          <button className="ghost small" onClick={() => onSubmit('')} title="Clear the filter">
            ✕
          </button>
        )}
        <kbd className="filter-kbd" title="Press / to focus">
          /
        </kbd>
      </div>
      {complete.list}
      {apiError && (
        <div className="filter-error" role="alert" data-testid="filter-error">
          <div className="filter-error-message">{apiError.message}</div>
          {span && (
            <code className="filter-error-text" data-testid="filter-error-text">
              {value.slice(0, span.start)}
              <mark data-testid="filter-error-token">{value.slice(span.start, span.end)}</mark>
              {value.slice(span.end)}
            </code>
          )}
        </div>
      )}
      {examples && !apiError && !value && (
        <div className="filter-examples">
          {examples.map((ex) => (
            <button key={ex} className="chip link" onClick={() => onSubmit(ex)}>
              {ex}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
