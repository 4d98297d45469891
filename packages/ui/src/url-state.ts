import { useSearchParams } from 'react-router';

/**
 * The page's state in its URL: `get(key)` reads a parameter, `set(key, value)` writes one (an
 * empty value or the default removes it), so every view and filter can be shared by its link.
 */
export function useUrlState() {
  const [params, setParams] = useSearchParams();
  const set = (key: string, value: string | null, defaultValue?: string) => {
    const next = new URLSearchParams(params);
    if (value && value !== defaultValue) next.set(key, value);
    else next.delete(key);
    setParams(next);
  };
  return { params, get: (key: string) => params.get(key), set, setParams };
}
