/**
 * The web app's static files besides the bundle: index.html (the page's frame, filled in by
 * ./app.ts) and app.css. One page for `covidnet export web` and `covidnet serve`. The
 * Content-Security-Policy is in a <meta> tag, so a site served by any static server with no special
 * headers still loads nothing from elsewhere; `covidnet serve` sends the same policy as a header.
 */
import { RESEARCH_NOTICE } from '../types.js';
import type { SiteInfo } from './site-info.js';

/**
 * Only the page's own origin: scripts, styles, the model's files; images also as data:/blob: URLs
 * (the overlays are drawn in the page). 'wasm-unsafe-eval' lets the wasm backend compile its
 * module; no inline script or style, no eval.
 */
export const SITE_CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'";

/** The header form (a <meta> cannot carry frame-ancestors). */
export const SITE_CSP_HEADER = `${SITE_CSP}; frame-ancestors 'none'`;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function indexHtml(info: SiteInfo): string {
  const options = info.classes.map((c) => `<option value="${escapeHtml(c)}">${escapeHtml(c)}</option>`).join('');
  const scoreWord = info.scores === 'probability' ? 'softmax probabilities' : 'similarities (1 − P(different)) to each class template, the mean embedding of its training images';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${SITE_CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>covidnet · ${escapeHtml(info.run)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="app.css">
<script type="module" src="app.js"></script>
</head>
<body>
<header><div class="top"><h1>covidnet: chest X-ray prediction with Grad-CAM</h1><span class="run">run <b>${escapeHtml(info.run)}</b> · ${escapeHtml(info.model)} net · input ${info.size}×${info.size}${info.crop > 0 ? ` · crop ${info.crop}` : ''}</span></div>
<div class="notice" role="note">${escapeHtml(RESEARCH_NOTICE)}</div></header>
<main>
  <p id="status" class="status" role="status" aria-live="polite">Loading the model…</p>
  <div id="drop" tabindex="0" role="button" aria-describedby="drop-help" aria-controls="results">
    <p><strong>Drop chest X-ray images here</strong> or click to choose files</p>
    <p id="drop-help" class="bar-note">PNG, JPEG or DICOM; several at once</p>
  </div>
  <p><label for="files">Or choose files</label> <input id="files" type="file" multiple accept=".png,.jpg,.jpeg,.dcm,image/png,image/jpeg,application/dicom"></p>
  <div class="controls">
    <label>Explain <select id="target"><option value="">the predicted class</option>${options}</select></label>
    ${info.model === 'siamese' ? `<label>against <select id="contrast"><option value="">nothing (plain similarity)</option>${options}</select></label>` : ''}
  </div>
  <p class="privacy">Images are decoded and scored in this browser, on this computer: they are not sent anywhere, not stored, and this page loads nothing from the internet. Scores are ${escapeHtml(scoreWord)}, calibrated on the run's validation images where the run has calibration.json. An image that does not look like the run's training images (its out-of-distribution score above the threshold) gets no class.</p>
  <section id="results" aria-label="results" aria-live="polite"></section>
</main>
</body>
</html>
`;
}

export const APP_CSS = `:root { --fg: #1d2433; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --accent: #2f5fb3; --warn: #8a3b00; --bar: #2f5fb3; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header .top { padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
header .run { color: var(--muted); }
.notice { background: #fff4e5; color: var(--warn); border-bottom: 1px solid #f3d2a8; padding: 8px 24px; font-weight: 600; }
main { max-width: 1100px; margin: 0 auto; padding: 20px 24px 40px; }
#drop { border: 2px dashed #9aa6bd; border-radius: 10px; background: #fff; padding: 28px; text-align: center; cursor: pointer; }
#drop.over { border-color: var(--accent); background: #eef3fc; }
#drop strong { color: var(--accent); }
.controls { display: flex; flex-wrap: wrap; gap: 16px; margin: 12px 0 4px; color: var(--muted); align-items: center; }
select { font: inherit; padding: 2px 4px; }
.privacy { color: var(--muted); font-size: 13px; margin: 6px 0 18px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px; margin: 14px 0; display: grid; grid-template-columns: minmax(0, 3fr) minmax(240px, 2fr); gap: 18px; }
.card img { width: 100%; height: auto; border-radius: 6px; background: #000; }
.card h2 { font-size: 16px; margin: 0 0 6px; word-break: break-all; }
.pred { font-size: 22px; font-weight: 700; margin: 4px 0 12px; }
.row { display: grid; grid-template-columns: 92px 1fr 56px; gap: 8px; align-items: center; margin: 4px 0; }
.track { background: #e7eaf0; border-radius: 4px; height: 12px; overflow: hidden; }
.fill { background: var(--bar); height: 100%; }
.row.top .fill { background: #c2410c; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 14px 0 0; font-size: 14px; }
dt { color: var(--muted); }
dd { margin: 0; }
.err { border-color: #e5a3a3; background: #fff7f7; display: block; }
.err .code { font-family: ui-monospace, monospace; color: #a11; }
.pending { display: block; color: var(--muted); }
a.dl { font-size: 13px; }
.card.ood { border: 2px solid #b45309; }
.verdict { background: #fff4e5; border: 1px solid #f3d2a8; border-radius: 8px; padding: 10px 12px; margin: 4px 0 12px; color: var(--warn); }
.verdict strong { display: block; font-size: 20px; }
.verdict p { margin: 6px 0 0; }
.verdict button { font: inherit; margin-top: 8px; }
.marked { color: var(--warn); font-size: 14px; font-weight: 600; }
@media (max-width: 760px) { .card { grid-template-columns: 1fr; } }
.status { color: var(--muted); font-size: 13px; margin: 0 0 8px; }
.bar-note { color: var(--muted); font-size: 13px; }
.card-notice { color: var(--warn); font-size: 13px; margin-top: 14px; }
#drop:focus-visible, button:focus-visible, select:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
`;
