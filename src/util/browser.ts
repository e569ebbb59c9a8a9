/**
 * Headless Chromium for the browser checks in tests (reports, the serve page): Debian's
 * /usr/bin/chromium driven by playwright-core, so nothing is downloaded. Test-only helper.
 */
import { existsSync } from 'node:fs';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser checks are skipped here, or undefined when Chromium is installed. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not installed (Debian: apt-get install chromium; scripts/system-deps.sh does it under CI)`;
}

/** A fresh headless context with its profile in `profileDir`; no network services, no sandbox (root in CI). */
export async function launchChromium(profileDir: string): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
