import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { useSearchParams } from 'react-router';
import { withWords, WORDS_PARAM } from '../url-state';
import { matchRanges, termsOf, type TextTerm } from '../word-search';

interface WordsToHighlight {
  /** The word search, as one query: what links carry to the page they open. */
  words: string;
  terms: TextTerm[];
}

const HighlightContext = createContext<WordsToHighlight>({ words: '', terms: [] });

/**
 * Everything below highlights the words of this word search (the `trace.text MATCH '...'` of a
 * filter, see joinWordQueries, or a page's `?words=`), and the links to traces and sessions below
 * carry it to their pages.
 */
export function HighlightWords({ words, children }: { words: string; children: ReactNode }) {
  const value = useMemo(() => ({ words, terms: termsOf([words]) }), [words]);
  return <HighlightContext.Provider value={value}>{children}</HighlightContext.Provider>;
}

/** `text` with the words being searched for in `<mark>`, by the server's rule of what matches. Text only. */
export function Highlighted({ text }: { text: string }) {
  const { terms } = useContext(HighlightContext);
  const ranges = useMemo(() => matchRanges(text, terms), [text, terms]);
  if (ranges.length === 0) return <>{text}</>;
  const parts: ReactNode[] = [];
  let at = 0;
  ranges.forEach((range, i) => {
    parts.push(text.slice(at, range.start), <mark key={i} className="word-match">{text.slice(range.start, range.end)}</mark>);
    at = range.end;
  });
  parts.push(text.slice(at));
  return <>{parts}</>;
}

/** Adds the words being highlighted to a trace's or session's path, so that its page highlights them too. */
export function useCarryWords(): (path: string) => string {
  const { words } = useContext(HighlightContext);
  return (path) => withWords(path, words);
}

/** Highlights below it the words of the page's `?words=`: the word search that led to the page. */
export function HighlightUrlWords({ children }: { children: ReactNode }) {
  const [params] = useSearchParams();
  return <HighlightWords words={params.get(WORDS_PARAM) ?? ''}>{children}</HighlightWords>;
}
