/**
 * Runs `task` now and then every `everyMs` while the server runs, one run at a time (a slow run
 * delays the next rather than overlapping it); failures go to `report` and the next run tries
 * again. Answers the function that stops it, once the run in progress ended.
 */
export function repeatInBackground(task: () => Promise<unknown>, everyMs: number, report: (error: unknown) => void): () => Promise<void> {
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();
  const tick = () => {
    if (!stopped) current = current.then(task).catch(report);
  };
  tick();
  const timer = setInterval(tick, everyMs).unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await current;
  };
}
