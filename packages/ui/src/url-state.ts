import { useSearchParams } from 'react-router';

/**
 * The page's state in its URL: `get(key)` reads a parameter, `set(key, value)` writes one (an
 * empty value or the default removes it), so every view and filter can be shared by its link.
 */
export function useUrlState() {
  const [params, setParams] = useSearchParams();
  const set = (key: string, value: string | null, defaultValue?: string) => setParams(withParams(params, { [key]: value === defaultValue ? null : value }));
  return { params, get: (key: string) => params.get(key), set, setParams };
}

/** A copy of `params` with some keys set (a null or empty value removes the key). */
export function withParams(params: URLSearchParams, changes: Record<string, string | null>): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(changes)) {
    if (value) next.set(key, value);
    else next.delete(key);
  }
  return next;
}

/**
 * The parameter of a trace's or a session's page that holds the word search that found it
 * (`?words=refund`), so that its words stay highlighted there (components/Highlight.tsx).
 */
export const WORDS_PARAM = 'words';

/** `path` with the words to highlight in its page, when there are any. */
export function withWords(path: string, words: string): string {
  if (!words) return path;
  return `${path}${path.includes('?') ? '&' : '?'}${new URLSearchParams({ [WORDS_PARAM]: words }).toString()}`;
}
