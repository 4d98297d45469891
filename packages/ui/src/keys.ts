import { useEffect, useRef } from 'react';

/** Whether a key pressed here is typing (or choosing), not a command for the page. */
export function isTypingIn(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

/** The keys that move through a list: ↑/↓ and j/k. */
export const MOVE_KEYS: readonly string[] = ['ArrowDown', 'ArrowUp', 'j', 'k'];

/**
 * Lets ↑/↓ and j/k reach a list from anywhere on the page (but a text field), before any of its
 * items has focus: `enter` gives focus to the item to start from, whose own handler takes the
 * keys after that. Nothing happens while focus is already inside `container`.
 *
 * @example
 * usePageMoveKeys(scroller, () => focusRow(lastFocused.current));
 */
export function usePageMoveKeys(container: { current: HTMLElement | null }, enter: () => boolean): void {
  const enterRef = useRef(enter);
  enterRef.current = enter;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTypingIn(e.target) || !MOVE_KEYS.includes(e.key)) return;
      if (!container.current || container.current.contains(document.activeElement)) return;
      if (enterRef.current()) e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [container]);
}
