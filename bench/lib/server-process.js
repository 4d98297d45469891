import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readCpuMs, readRssKib, readWrittenChars } from './proc.js';

/** The built `threadline` command of this checkout. */
export const CLI_PATH = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));

/** @type {Set<import('node:child_process').ChildProcess>} */
const liveChildren = new Set();
let endingHooked = false;

/**
 * A bench killed from outside (a test's timeout sends SIGTERM; Ctrl-C sends SIGINT) must not leave
 * its servers running: they would hold ports, files and database connections after it.
 */
function endChildrenWithThisProcess() {
  if (endingHooked) return;
  endingHooked = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
  for (const signal of /** @type {const} */ (['SIGTERM', 'SIGINT'])) {
    process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
  }
}

/**
 * Starts `threadline server` as a child process on a SQLite file (or any backend store URI) and
 * a free port (the server is asked for port 0 and reports the one it bound in its "listening on"
 * line).
 *
 * `script`: run this script instead of the server (another process that prints the same line).
 *
 * @param {{ dbPath?: string, backendStoreUri?: string, serverArgs?: string[], nodeArgs?: string[], env?: NodeJS.ProcessEnv, startTimeoutMs?: number, script?: string }} options
 * @returns {Promise<{ url: string, pid: number, exited: Promise<number | string | null>, rssKib(): number, cpuMs(): number, writtenChars(): number, stop(): Promise<number | string | null>, stderr(): string }>}
 */
export async function startServerProcess({ dbPath, backendStoreUri = `sqlite:///${dbPath}`, serverArgs = [], nodeArgs = [], env = process.env, startTimeoutMs = 30_000, script }) {
  const argv = script ? [script] : [CLI_PATH, 'server', '--host', '127.0.0.1', '--port', '0', '--backend-store-uri', backendStoreUri, ...serverArgs];
  const child = spawn(process.execPath, [...nodeArgs, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  endChildrenWithThisProcess();
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    // Keep the tail only: a long run must not grow the bench's memory.
    stderr = (stderr + chunk).slice(-20_000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`threadline server did not start within ${startTimeoutMs} ms; stderr:\n${stderr}`)), startTimeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`threadline server exited (${code}) before listening; stderr:\n${stderr}`));
    });
  });

  const pid = /** @type {number} */ (child.pid);
  return {
    url,
    pid,
    exited,
    rssKib: () => readRssKib(pid),
    cpuMs: () => readCpuMs(pid),
    writtenChars: () => readWrittenChars(pid),
    stderr: () => stderr,
    /** SIGTERM (the server closes its store and exits), SIGKILL if it has not exited in 20 s. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Samples a process's RSS every `intervalMs` until stopped. Each sample carries the phase label
 * current when it was taken, so that a report can say where the peak happened.
 */
export class RssSampler {
  /** @param {number} pid */
  constructor(pid, intervalMs = 200) {
    this.pid = pid;
    this.phase = 'start';
    /** @type {{ t: number, phase: string, rssKib: number }[]} */
    this.samples = [];
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample() {
    const rssKib = readRssKib(this.pid);
    if (Number.isFinite(rssKib)) this.samples.push({ t: performance.now(), phase: this.phase, rssKib });
    return rssKib;
  }

  /** Takes a sample now and labels the following ones with `phase`. */
  mark(phase) {
    this.sample();
    this.phase = phase;
  }

  stop() {
    clearInterval(this.timer);
  }

  peak() {
    return this.samples.reduce((best, s) => (s.rssKib > best.rssKib ? s : best), this.samples[0]);
  }
}
