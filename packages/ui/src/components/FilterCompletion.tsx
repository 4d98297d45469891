import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { FilterLanguage } from '@threadline/protocol';
import { useId, useMemo, useState, type KeyboardEvent } from 'react';
import { api } from '../api';
import { completionContext, suggestionsFor, type CompletionContext, type Suggestion } from '../completion';

/** Which filter language a box speaks, of which experiment: what completion asks the server about. */
export interface CompletionSource {
  experimentId: string;
  language: FilterLanguage;
}

/** Suggestions shown at most; the rest come as more is typed. */
const MAX_SHOWN = 50;

/**
 * Completion for a filter input (an ARIA combobox): the suggestions for the text before the caret
 * (completion.ts), a list that opens as the user types, ↑/↓ to move, Enter or Tab to accept (Tab
 * the first when none is chosen), Escape to close, a click to accept. Accepting writes the
 * suggestion into the text and puts the caret after it, where the next list opens (`tag.` then
 * its keys, a field then its comparators, `=` then the ids).
 */
export function useFilterCompletion(source: CompletionSource | undefined, text: string, setText: (text: string, caret: number) => void) {
  const listId = useId();
  const [caret, setCaret] = useState(0);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  // Asked once the box is first used, then kept: fields do not change, keys seldom.
  const [wanted, setWanted] = useState(false);
  const known = useQuery({
    queryKey: ['filter-suggestions', source?.experimentId, source?.language],
    queryFn: ({ signal }) => api.filterSuggestions(source!.experimentId, source!.language, signal),
    enabled: !!source && wanted,
    staleTime: 60_000,
  });
  const context: CompletionContext | null = useMemo(() => (known.data ? completionContext(text, caret, known.data.fields) : null), [known.data, text, caret]);
  const valueContext = context?.kind === 'value' ? context : null;
  const values = useQuery({
    queryKey: ['filter-values', source?.experimentId, valueContext?.values, valueContext?.typed],
    queryFn: ({ signal }) => api.filterValues(source!.experimentId, valueContext!.values, valueContext!.typed, signal),
    enabled: !!source && open && valueContext !== null,
    staleTime: 30_000,
    placeholderData: keepPreviousData,
  });
  const suggestions: Suggestion[] = useMemo(
    () => (context && known.data ? suggestionsFor(context, known.data, valueContext ? (values.data ?? []) : []).slice(0, MAX_SHOWN) : []),
    [context, known.data, valueContext, values.data],
  );
  const shown = open && suggestions.length > 0;

  const accept = (s: Suggestion) => {
    if (!context) return;
    const after = text.slice(context.to);
    // No second space before one that is already there.
    const insert = /^\s/.test(after) ? s.insert.trimEnd() : s.insert;
    const next = text.slice(0, context.from) + insert + after;
    const at = context.from + insert.length + (insert === s.insert ? 0 : 1);
    setText(next, Math.min(at, next.length));
    setCaret(Math.min(at, next.length));
    setActive(-1);
    setOpen(true);
  };

  return {
    /** Props of the input: the combobox's ARIA state and its event handlers. */
    inputProps: {
      role: 'combobox',
      'aria-autocomplete': 'list' as const,
      'aria-expanded': shown,
      ...(shown ? { 'aria-controls': listId } : {}),
      ...(shown && active >= 0 ? { 'aria-activedescendant': `${listId}-${active}` } : {}),
      onFocus: () => setWanted(true),
      onBlur: () => setOpen(false),
      onSelect: (e: { currentTarget: HTMLInputElement }) => setCaret(e.currentTarget.selectionStart ?? e.currentTarget.value.length),
    },
    /** Call on every edit of the text: the list opens for what is typed. */
    typed: (caretAt: number) => {
      setCaret(caretAt);
      setActive(-1);
      setOpen(true);
    },
    /** Handles the list's keys; true when the key was the list's (the input does nothing else with it). */
    onKeyDown: (e: KeyboardEvent<HTMLInputElement>): boolean => {
      if (e.key === 'ArrowDown' && !shown) {
        setOpen(true);
        e.preventDefault();
        return true;
      }
      if (!shown) return false;
      const choose = (i: number) => {
        e.preventDefault();
        setActive(i);
        document.getElementById(`${listId}-${i}`)?.scrollIntoView({ block: 'nearest' });
        return true;
      };
      if (e.key === 'ArrowDown') return choose(Math.min(active + 1, suggestions.length - 1));
      if (e.key === 'ArrowUp') return choose(Math.max(active - 1, 0));
      if (e.key === 'Escape') {
        e.preventDefault();
        setOpen(false);
        return true;
      }
      const chosen = suggestions[active >= 0 ? active : e.key === 'Tab' ? 0 : -1];
      if ((e.key === 'Enter' || e.key === 'Tab') && chosen) {
        e.preventDefault();
        accept(chosen);
        return true;
      }
      return false;
    },
    close: () => setOpen(false),
    list: shown ? (
      <ul className="filter-suggestions" role="listbox" id={listId} aria-label="Suggestions" data-testid="filter-suggestions">
        {suggestions.map((s, i) => (
          <li
            key={`${s.label}-${i}`}
            id={`${listId}-${i}`}
            role="option"
            aria-selected={i === active}
            className={i === active ? 'active' : ''}
            // Keeps the focus (and the caret) in the input.
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => accept(s)}
          >
            <span className="suggestion-label">{s.label}</span>
            {s.detail && <span className="suggestion-detail">{s.detail}</span>}
          </li>
        ))}
      </ul>
    ) : null,
  };
}
