/**
 * Headless Chromium for the browser checks in tests (reports, the serve page): Debian's
 * /usr/bin/chromium driven by playwright-core, so nothing is downloaded. Test-only helper.
 */
import { existsSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';

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

/**
 * Records a page's console errors, uncaught exceptions and every request that leaves `origin`
 * (`data:` and `blob:` URLs stay on the page), for the tests' "no errors, nothing fetched from
 * elsewhere" checks.
 */
export function watchPage(page: Page, origin: string): { errors: string[]; outside: string[] } {
  const w = { errors: [] as string[], outside: [] as string[] };
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(m.text());
  });
  page.on('pageerror', (e) => w.errors.push(e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) w.outside.push(u);
  });
  return w;
}

/**
 * Waits for `selector` on a covidnet page; on a timeout the error says what the page showed (its
 * status line, each card's text, the page's errors), so a CI failure can be read without a rerun.
 */
export async function waitForOrSay(page: Page, selector: string, timeout: number, errors: readonly string[] = []): Promise<void> {
  try {
    await page.waitForSelector(selector, { timeout });
  } catch (e) {
    const shown = await page
      .evaluate(() => ({
        status: document.getElementById('status')?.textContent ?? '(no status)',
        ready: document.documentElement.getAttribute('data-ready'),
        cards: [...document.querySelectorAll('.card')].map((c) => `${c.className}: ${(c.textContent ?? '').trim().slice(0, 160)}`),
      }))
      .catch((err: unknown) => ({ status: `(page not readable: ${String(err)})`, ready: null, cards: [] as string[] }));
    throw new Error(`${selector} not shown in ${timeout} ms (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); the page shows: ${JSON.stringify({ ...shown, errors })}`);
  }
}
