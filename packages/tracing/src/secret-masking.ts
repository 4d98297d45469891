/**
 * Secrets the SDK never records, whatever the redaction settings: values of fields and headers whose
 * names say they hold a credential, and API client objects (which hold their credentials in fields
 * and default headers). Applied where values are turned into JSON (`json-text.ts`), to traced
 * functions' parameter names (`function-params.ts`), to attribute names when they are set
 * (`live-span.ts`, `tracing-api.ts`), and at export to every span's attributes and events, other
 * instrumentations' included, and to the trace's metadata and tags (`span-redaction.ts`,
 * `trace-record.ts`).
 */

/** What a masked value is recorded as. */
export const MASK = '[REDACTED]';

/**
 * Name endings that mark a credential, compared on the name lowercased with `-` and `_` removed, so
 * `apiKey`, `api_key`, `API-KEY`, `x-api-key`, `OPENAI_API_KEY` and `adminAPIKey` all end in
 * `apikey`, and the OpenTelemetry header attributes `http.request.header.authorization` and
 * `http.response.header.set-cookie` in `authorization` and `cookie`.
 *
 * - `authorization` (Authorization, Proxy-Authorization), `cookie` / `cookies` (Cookie,
 *   Set-Cookie, a framework's parsed `req.cookies`): HTTP headers that carry credentials.
 * - `apikey`, `subscriptionkey` (Azure's `Ocp-Apim-Subscription-Key`), `secretkey`,
 *   `secretaccesskey` (AWS), `privatekey`: keys.
 * - `password`, `passwd`, `passphrase`, `secret` (`client_secret`, `webhookSecret`).
 * - `accesstoken`, `refreshtoken`, `idtoken`, `authtoken` (`x-auth-token`), `sessiontoken`,
 *   `securitytoken` (`x-amz-security-token`), `bearertoken`: OAuth, OIDC and cloud tokens.
 *
 * Deliberately not masked: a bare `token` (the `token` of every logprobs entry in a chat
 * completion, tokenizer output), `max_tokens` / `total_tokens` / `next_page_token` (counts and
 * paging, none ends in a suffix above), a bare `key` (map entries, cache keys), `auth` (axios's
 * `auth` holds `username` and `password`: the password is masked by its own name), `credentials`
 * (fetch's `'include'`), `organization` / `project` (identifiers, not credentials; an API client
 * object that holds them is not recorded at all, see `apiClientDescription`). Booleans are never
 * masked (`hasApiKey: true` says nothing secret), nor null.
 */
const SECRET_NAME_ENDINGS = [
  'authorization',
  'cookie',
  'cookies',
  'apikey',
  'subscriptionkey',
  'secretkey',
  'secretaccesskey',
  'privatekey',
  'password',
  'passwd',
  'passphrase',
  'secret',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'authtoken',
  'sessiontoken',
  'securitytoken',
  'bearertoken',
];

// Names repeat endlessly (`role`, `content`...): each is classified once. The cache is bounded so
// that an application with unbounded key names (ids as keys) cannot grow it without limit.
const MAX_CACHED_NAMES = 4096;
const MAX_CACHED_NAME_LENGTH = 64;
const verdicts = new Map<string, boolean>();

function classify(name: string): boolean {
  // Only the end of a name matters; a long name is cut before normalising.
  const tail = name.length > MAX_CACHED_NAME_LENGTH ? name.slice(-MAX_CACHED_NAME_LENGTH) : name;
  const normal = tail.toLowerCase().replace(/[-_]/g, '');
  for (const ending of SECRET_NAME_ENDINGS) if (normal.endsWith(ending)) return true;
  return false;
}

/**
 * True when a field, header or attribute named `name` holds a credential (case-insensitive; `-`
 * and `_` ignored). See `SECRET_NAME_ENDINGS` for the list and why.
 *
 * @example
 * isSecretName('Authorization'); // true
 * isSecretName('x-api-key'); // true
 * isSecretName('max_tokens'); // false
 */
export function isSecretName(name: string): boolean {
  const known = verdicts.get(name);
  if (known !== undefined) return known;
  const verdict = classify(name);
  if (name.length <= MAX_CACHED_NAME_LENGTH) {
    if (verdicts.size >= MAX_CACHED_NAMES) verdicts.clear();
    verdicts.set(name, verdict);
  }
  return verdict;
}

/** True when the value under a secret name is masked: anything but null, undefined and booleans. */
export function isMaskable(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== 'boolean';
}

/** The value recorded under `name`: `MASK` when the name is secret and the value maskable. */
export function maskedByName<T>(name: string, value: T): T | typeof MASK {
  return isMaskable(value) && isSecretName(name) ? MASK : value;
}

/**
 * A WHATWG `Headers` (fetch's, undici's, node-fetch's): its entries as a plain object, names
 * lowercased as `Headers` keeps them. `JSON.stringify` would write `{}`; the entries are then masked
 * by name like any object's.
 */
export function headersEntries(value: object): Record<string, string> | undefined {
  if ((value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] !== 'Headers') return undefined;
  const entries = (value as { entries?: unknown }).entries;
  if (typeof entries !== 'function') return undefined;
  const plain: Record<string, string> = {};
  for (const [name, text] of (entries as () => Iterable<[string, string]>).call(value)) plain[name] = text;
  return plain;
}

/**
 * Node's `rawHeaders` / `rawTrailers` (`[name, value, name, value, ...]`, names as sent): the same
 * list with the value after each secret name masked.
 */
export function maskedRawHeaders(list: readonly unknown[]): unknown[] {
  return list.map((item, index) => (index % 2 === 1 && typeof list[index - 1] === 'string' && isMaskable(item) && isSecretName(list[index - 1] as string) ? MASK : item));
}

/** Keys under which Node keeps headers as a flat `[name, value, ...]` list. */
export function isRawHeadersKey(key: string): boolean {
  return key === 'rawHeaders' || key === 'rawTrailers';
}

/**
 * True when `item` is a `[name, value]` pair whose name is secret: the shape of fetch's
 * `HeadersInit` arrays and of `Object.entries()`.
 */
export function isSecretPair(item: unknown): item is [string, unknown] {
  return Array.isArray(item) && item.length === 2 && typeof item[0] === 'string' && isMaskable(item[1]) && isSecretName(item[0]);
}

/**
 * The short text recorded instead of an API client object, or undefined when `value` is not one. An
 * API client is a class instance with a base URL and a credential field: the OpenAI and Anthropic
 * SDKs' clients (and every client generated the same way) keep `apiKey`, `organization`, `project`
 * and `_options.defaultHeaders` on the instance, next to `baseURL`. Recording such an object would
 * record its credentials and its whole resource tree; its name says which client it was.
 *
 * @example
 * apiClientDescription(new OpenAI({ apiKey: 'sk-...' })); // '[OpenAI client]'
 */
export function apiClientDescription(value: object): string | undefined {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === Object.prototype || proto === null || Array.isArray(value)) return undefined;
  const own = value as Record<string, unknown>;
  if (!('baseURL' in own) && !('baseUrl' in own)) return undefined;
  if (!Object.keys(own).some(isSecretName)) return undefined;
  const constructor = (proto as { constructor?: unknown }).constructor;
  const name = typeof constructor === 'function' ? constructor.name : '';
  if (name === '') return '[API client]';
  return /client$/i.test(name) ? `[${name}]` : `[${name} client]`;
}
