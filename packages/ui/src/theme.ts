import { useSyncExternalStore } from 'react';

export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'threadline.theme';
const listeners = new Set<() => void>();
const media = typeof window !== 'undefined' ? window.matchMedia('(prefers-color-scheme: dark)') : null;

function read(): ThemeChoice {
  const v = localStorage.getItem(KEY);
  return v === 'light' || v === 'dark' ? v : 'system';
}
let snapshot = { choice: read(), resolved: 'light' as 'light' | 'dark' };
function refresh() {
  const choice = read();
  const resolved = choice === 'system' ? (media?.matches ? 'dark' : 'light') : choice;
  snapshot = { choice, resolved };
  if (choice === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = choice;
  document.documentElement.style.colorScheme = resolved;
  listeners.forEach((l) => l());
}
refresh();
media?.addEventListener('change', refresh);

export function setTheme(choice: ThemeChoice): void {
  if (choice === 'system') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  refresh();
}

/** The chosen theme (system, light, dark) and the one in effect. */
export function useTheme() {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => snapshot,
  );
}
