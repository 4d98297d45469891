// Launches Debian's Chromium through playwright-core (no browser download). Shared by the
// browser tests and the screenshots script.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.THREADLINE_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumAvailable = () => existsSync(CHROMIUM_PATH);

/**
 * A headless Chromium with a fresh profile, removed on close.
 * @param {{ extraArgs?: string[], timezoneId?: string }} [options] more command-line switches, e.g.
 *   `--host-resolver-rules=...`; the pages' time zone (default: the machine's), e.g. `America/New_York`
 */
export async function launchBrowser({ extraArgs = [], timezoneId } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'threadline-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
    ...(timezoneId ? { timezoneId } : {}),
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
