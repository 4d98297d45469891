import { jsonTextOf, JsonSnapshot } from './json-text.js';
import { isMaskable, isSecretName, MASK } from './secret-masking.js';

/**
 * Names a traced function's arguments the way the MLflow SDK does: by reading the parameter list
 * from the function's source text. Parsed once per traced function, not per call.
 */

/**
 * How one parameter takes its argument; `key` is `"<name>":`, the name's JSON key text; `secret`
 * when the name says it holds a credential (`apiKey`, `password`...): its argument is masked.
 */
export type ParamSlot = { name: string; rest: boolean; key: string; secret: boolean };

/**
 * The parameter list of a function as written in its source, or `undefined` when it cannot be read
 * (native or bound functions, unusual syntax). Destructured parameters are named `arg<index>`;
 * a rest parameter collects the remaining arguments.
 *
 * @example
 * parameterSlots((city: string, units = 'metric') => '') // [{name:'city',rest:false},{name:'units',rest:false}]
 */
export function parameterSlots(fn: Function): ParamSlot[] | undefined {
  let source: string;
  try {
    source = Function.prototype.toString.call(fn);
  } catch {
    return undefined;
  }
  if (source.endsWith('{ [native code] }')) return undefined;
  const list = parameterListText(source);
  if (list === undefined) return undefined;
  const slots: ParamSlot[] = [];
  const parts = splitTopLevel(list);
  for (let index = 0; index < parts.length; index++) {
    let part = parts[index]!.trim();
    if (part === '') continue;
    const rest = part.startsWith('...');
    if (rest) part = part.slice(3).trim();
    const match = /^[A-Za-z_$][\w$]*/.exec(part);
    // Anything else is a destructuring pattern: keep the value under a positional name.
    const name = match ? match[0] : `arg${index}`;
    slots.push({ name, rest, key: `${JSON.stringify(name)}:`, secret: isSecretName(name) });
  }
  return slots;
}

/**
 * Inputs of one call, recorded now: the JSON text of the arguments keyed by parameter name; without
 * usable names, of `{ args: [...] }` (or `{}` for a call without arguments), as the MLflow SDK
 * records them. Written piece by piece, without building the inputs object.
 *
 * @example
 * argumentsSnapshot(parameterSlots((city: string, units = 'metric') => ''), ['Paris']).text // '{"city":"Paris"}'
 */
export function argumentsSnapshot(slots: ParamSlot[] | undefined, args: readonly unknown[]): JsonSnapshot {
  if (slots === undefined || slots.length === 0) return new JsonSnapshot(args.length === 0 ? '{}' : `{"args":${jsonTextOf(args)}}`);
  let text = '{';
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    if (!slot.rest && i >= args.length) break;
    const value = slot.rest ? args.slice(i) : args[i];
    // An undefined argument has no JSON, as JSON.stringify leaves out an undefined property.
    if (value !== undefined) text += `${text.length > 1 ? ',' : ''}${slot.key}${slot.secret && isMaskable(value) ? MASKED_JSON : jsonTextOf(value)}`;
    if (slot.rest) break;
  }
  return new JsonSnapshot(`${text}}`);
}

const MASKED_JSON = JSON.stringify(MASK);

/** The text between the parentheses of the parameter list (or the lone parameter of `x => ...`). */
function parameterListText(source: string): string | undefined {
  // `async x => ...` / `x => ...`: a single unparenthesised parameter.
  const bare = /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
  if (bare) return bare[1];
  const open = source.indexOf('(');
  if (open === -1) return undefined;
  // Everything before the list must be a function head: `function* name`, `async name`, a
  // method name, `get x`, a computed key... but not an arrow body or a class.
  if (/^class\b/.test(source)) return undefined;
  const close = matchingParen(source, open);
  return close === undefined ? undefined : source.slice(open + 1, close);
}

/** Index of the `)` closing the `(` at `open`, skipping strings, templates, comments and nesting. */
function matchingParen(text: string, open: number): number | undefined {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const skipped = endOfQuotedOrComment(text, i);
    if (skipped !== -1) {
      i = skipped;
      continue;
    }
    const c = text[i];
    if (c === '(' || c === '[' || c === '{') {
      depth++;
    } else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) return c === ')' ? i : undefined;
    }
  }
  return undefined;
}

/** When `text[i]` opens a string, a template or a comment: the index of its last character; else -1. */
function endOfQuotedOrComment(text: string, i: number): number {
  const c = text[i];
  if (c === '"' || c === "'" || c === '`') {
    for (let j = i + 1; j < text.length; j++) {
      if (text[j] === '\\') j++;
      else if (text[j] === c) return j;
    }
    return text.length - 1;
  }
  if (c === '/' && text[i + 1] === '/') {
    const end = text.indexOf('\n', i);
    return end === -1 ? text.length - 1 : end;
  }
  if (c === '/' && text[i + 1] === '*') {
    const end = text.indexOf('*/', i + 2);
    return end === -1 ? text.length - 1 : end + 1;
  }
  return -1;
}

/** Splits a parameter list at its top-level commas, dropping comments. */
function splitTopLevel(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    const skipped = endOfQuotedOrComment(list, i);
    if (skipped !== -1) {
      // Strings stay (a default value may hold commas); comments go.
      if (c !== '/') current += list.slice(i, skipped + 1);
      i = skipped;
    } else if (c === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      if (c === '(' || c === '[' || c === '{') depth++;
      else if (c === ')' || c === ']' || c === '}') depth--;
      current += c;
    }
  }
  parts.push(current);
  return parts;
}
