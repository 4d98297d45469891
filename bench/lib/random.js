/** Seeded randomness shared by the benchmarks, so every run of a workload is the same. */

/** mulberry32: a small, fast, seedable PRNG giving numbers in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `digits` lowercase hex digits drawn from `rand`. */
export function hex(rand, digits) {
  let out = '';
  while (out.length < digits) out += Math.floor(rand() * 0x100000000).toString(16).padStart(8, '0');
  return out.slice(0, digits);
}
