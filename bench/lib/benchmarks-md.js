import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** BENCHMARKS.md at the repository root. */
export const BENCHMARKS_MD = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));

const HEADER = `# Benchmarks

Measured by the commands under \`bench/\` (DESIGN.md §8), each comparing Threadline with a baseline
measured in the same run on the same machine. Each benchmark rewrites only the block between its own
\`<!-- bench:NAME:begin -->\` and \`<!-- bench:NAME:end -->\` markers; text outside the markers
(notes, analysis) is kept.
`;

/**
 * Replaces the generated block of one benchmark in BENCHMARKS.md, creating the file or appending a
 * new section (`## title` + block) when the block is not there yet. Everything else is kept.
 *
 * @param {string} name block id, e.g. `ingest`
 * @param {string} title section heading used when the section is new
 * @param {string} body Markdown written between the markers
 */
export function writeBenchmarkSection(name, title, body, file = BENCHMARKS_MD) {
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${begin}\n${body.trim()}\n${end}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : HEADER;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from !== -1 && to > from) {
    text = text.slice(0, from) + block + text.slice(to + end.length);
  } else {
    text = `${text.trimEnd()}\n\n## ${title}\n\n${block}\n`;
  }
  writeFileSync(file, text);
  return file;
}
