/**
 * Preloaded into a server process (`node --import <this file>`, with THREADLINE_BENCH_LOOP_LOG
 * naming the output file): records every time its event loop could not run a 2 ms timer for more
 * than BLOCK_MS, with when (epoch ms), for how long, and how the main thread spent that time
 * (Linux /proc/self/task/<pid>/schedstat): on a core, or runnable but waiting for one. What is left
 * is the thread blocked in a system call (a sync to disk, a read of an uncached page). A block
 * less its wait for a core is the server's own doing (its work and its I/O); the wait is the
 * machine's, busy with other processes. Written as JSON `[[startMs, gapMs, cpuMs, waitMs], ...]`
 * when the process exits; without schedstat, cpuMs and waitMs are null.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const BLOCK_MS = 10;
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** The main thread's time on a core and waiting for one so far, in ms, or null. */
function schedstat() {
  try {
    const [cpuNs, waitNs] = readFileSync(SCHEDSTAT, 'utf8').split(' ').map(Number);
    return { cpu: cpuNs / 1e6, wait: waitNs / 1e6 };
  } catch {
    return null;
  }
}

const out = process.env.THREADLINE_BENCH_LOOP_LOG;
if (out) {
  const blocks = [];
  let last = performance.now();
  let lastStat = schedstat();
  setInterval(() => {
    const now = performance.now();
    const stat = schedstat();
    const gap = now - last;
    if (gap > BLOCK_MS) {
      const spent = stat && lastStat ? [stat.cpu - lastStat.cpu, stat.wait - lastStat.wait] : [null, null];
      blocks.push([performance.timeOrigin + last, gap, ...spent]);
    }
    last = now;
    lastStat = stat;
  }, 2).unref();
  process.on('exit', () => writeFileSync(out, JSON.stringify(blocks)));
}
