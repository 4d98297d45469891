/**
 * Preloaded into a server process (`node --import <this file>`, with THREADLINE_BENCH_LOOP_LOG
 * naming the output file): records every time its event loop could not run a 2 ms timer for more
 * than BLOCK_MS, with when (epoch ms), for how long, and how much CPU time the process used
 * meanwhile. A long gap with as much CPU is the server's own work holding the loop (on SQLite
 * every statement runs on it); a long gap with little CPU is the process waiting for a core on a
 * busy machine. Written as JSON `[[startMs, gapMs, cpuMs], ...]` when the process exits.
 */
import { writeFileSync } from 'node:fs';

const BLOCK_MS = 10;
const out = process.env.THREADLINE_BENCH_LOOP_LOG;
if (out) {
  const blocks = [];
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const gap = now - last;
    if (gap > BLOCK_MS) blocks.push([performance.timeOrigin + last, gap, (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000]);
    last = now;
    lastCpu = cpu;
  }, 2).unref();
  process.on('exit', () => writeFileSync(out, JSON.stringify(blocks)));
}
