// What every benchmark's command line shares.

/** The value of `--name` as a positive integer, or a clear error naming the flag. */
export function positiveOption(args, name) {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer; got '${args[name]}'.`);
  return n;
}

/** One line to stdout. */
export function log(line = '') {
  process.stdout.write(`${line}\n`);
}
