/**
 * Summarises a V8 `.cpuprofile` (as written by `node --cpu-prof`): self and inclusive time per
 * function, and self time per area (an npm package, a file of this repository, a Node internal
 * module, or V8's own buckets such as the garbage collector).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, markdownTable } from './stats.js';

/** Where a function lives, coarse enough to add up: `kysely`, `server:store/kysely-store.js`, `node:net`... */
export function areaOf(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : `native (${functionName || 'anonymous'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const repo = /\/packages\/([^/]+)\/dist\/(.+)$/.exec(url);
  if (repo) return `${repo[1]}:${repo[2]}`;
  const internal = /^node:(?:internal\/)?([^/]+(?:\/[^/]+)?)/.exec(url);
  if (internal) return `node:${internal[1]}`;
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url) {
  const pkg = /node_modules\/(.+)$/.exec(url);
  if (pkg) return pkg[1];
  const repo = /\/(packages\/.+)$/.exec(url);
  if (repo) return repo[1];
  return url.replace(/^file:\/\//, '').replace(/^node:internal\//, 'node:');
}

/**
 * @param {string} path a .cpuprofile file
 * @returns {{ totalMs: number, idleMs: number, self: Row[], inclusive: Row[], areas: Row[] }}
 * @typedef {{ name: string, where: string, ms: number, share: number }} Row
 */
export function summariseCpuProfile(path) {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const keyOf = (n) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'}\t${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`;
  };
  const selfUs = new Map();
  const inclUs = new Map();
  const areaUs = new Map();
  let totalUs = 0;
  let idleUs = 0;
  const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);

  // Sample i was taken timeDeltas[i + 1] before the next one: charge that interval to it.
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const us = timeDeltas[i + 1] ?? 0;
    const node = nodes.get(samples[i]);
    const name = node.callFrame.functionName;
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    totalUs += us;
    add(selfUs, keyOf(node), us);
    add(areaUs, areaOf(node.callFrame.url, name), us);
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const key = keyOf(nodes.get(id));
      if (!seen.has(key)) {
        seen.add(key);
        add(inclUs, key, us);
      }
    }
  }
  const rows = (map) =>
    [...map.entries()]
      .map(([key, us]) => {
        const [name, where = ''] = key.split('\t');
        return { name, where, ms: us / 1000, share: totalUs > 0 ? us / totalUs : 0 };
      })
      .sort((a, b) => b.ms - a.ms);
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    self: rows(selfUs),
    inclusive: rows(inclUs).filter((r) => !['(root)', '(program)'].includes(r.name)),
    areas: rows(areaUs),
  };
}

/** Logs where a server's time went, from the `.cpuprofile` that `node --cpu-prof --cpu-prof-dir=DIR` wrote into `dir`. */
export function logCpuProfile(dir, log) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    log('no .cpuprofile was written by the server');
    return;
  }
  const summary = summariseCpuProfile(join(dir, files[0]));
  const pct = (share) => `${fmt(share * 100, 1)}%`;
  log(`\nserver CPU profile (${join(dir, files[0])}): ${fmt(summary.totalMs)} ms busy, ${fmt(summary.idleMs)} ms idle`);
  log('\nself time by area');
  log(markdownTable(['area', 'ms', 'share'], summary.areas.slice(0, 20).map((r) => [r.name, fmt(r.ms), pct(r.share)]), ['l', 'r', 'r']));
  log('\nself time by function');
  log(markdownTable(['function', 'where', 'ms', 'share'], summary.self.slice(0, 30).map((r) => [r.name, r.where, fmt(r.ms), pct(r.share)]), ['l', 'l', 'r', 'r']));
  log('\ninclusive time by function');
  log(markdownTable(['function', 'where', 'ms', 'share'], summary.inclusive.slice(0, 40).map((r) => [r.name, r.where, fmt(r.ms), pct(r.share)]), ['l', 'l', 'r', 'r']));
}
