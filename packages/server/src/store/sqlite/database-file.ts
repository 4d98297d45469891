import { statSync } from 'node:fs';
import { StoreUnavailableError } from '../store-errors.js';

/**
 * The file a SQLite store opened, watched for being deleted or replaced while the server runs
 * (an operator's `rm`, a restore copied over it). SQLite goes on writing into the file it has
 * open, which no longer has a name: every trace acknowledged after that would be gone when the
 * server stops, and the threads that open the file by its path (checkpoints, searches) fail.
 * So readiness says why, and writes are refused (503: clients keep them and send them again)
 * instead of acknowledged.
 */
export class DatabaseFile {
  private readonly dev: number;
  private readonly ino: number;

  constructor(readonly path: string) {
    const stats = statSync(path);
    this.dev = stats.dev;
    this.ino = stats.ino;
  }

  /** Why the store cannot keep what it writes, or undefined while its path still names the file it opened. */
  problem(): string | undefined {
    let stats;
    try {
      stats = statSync(this.path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return 'the database file was deleted while the server ran; restart the server (on a restored file or a new one)';
      return `the database file cannot be checked (${code ?? String(error)})`;
    }
    if (stats.ino !== this.ino || stats.dev !== this.dev) return 'the database file was replaced by another file while the server ran; restart the server to use it';
    return undefined;
  }

  /** Throws the problem, if there is one, as the store's "not now" error. */
  check(): void {
    const problem = this.problem();
    if (problem !== undefined) throw new StoreUnavailableError(problem);
  }
}
