import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * scrypt, memory-hard (32 MiB, ~50–100 ms here), from Node's crypto: no dependency, runs on the
 * thread pool so a login never blocks the event loop. Parameters are stored with each hash, so
 * they can be raised later without invalidating old passwords.
 */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { ...options, maxmem: 128 * options.N! * options.r! * 2 }, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

/**
 * A password's stored form: `scrypt$N$r$p$<salt b64>$<key b64>`.
 *
 * @example
 * const stored = await hashPassword('correct horse');
 * await verifyPassword('correct horse', stored); // true
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Whether `password` matches a stored hash; false for a malformed one. Constant-time compare. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Prefix of every API token: recognisable in logs and by secret scanners. */
export const API_TOKEN_PREFIX = 'tlk_';

/** A new random secret (256 bits), URL-safe, with a prefix. */
export function newSecret(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

/**
 * What is stored of a high-entropy secret (API token, session id): its SHA-256. A slow hash
 * buys nothing for 256 random bits, and lets every request look the token up by index.
 */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
