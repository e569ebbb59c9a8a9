/**
 * The single page of `covidnet serve`: pick or drop chest X-rays, see each prediction with its
 * Grad-CAM overlay. Self-contained (inline CSS and script, no fonts or libraries from the network),
 * so it works offline and the server's content-security-policy can forbid every outside load.
 */
import type { RunInfo } from './run-info.js';

/** JSON for a <script> block: `<` escaped so no value can close the tag. */
function inlineJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function pageHtml(info: RunInfo): string {
  const options = info.classes.map((c) => `<option value="${escapeHtml(c)}">${escapeHtml(c)}</option>`).join('');
  const scoreWord = info.scores === 'probability' ? 'softmax probabilities' : 'similarities (1 − P(different)) to each class template, the mean embedding of its training images';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>covidnet · ${escapeHtml(info.run)}</title>
<style>
  :root { --fg: #1d2433; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --accent: #2f5fb3; --warn: #8a3b00; --bar: #2f5fb3; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; }
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
</style>
</head>
<body>
<header><h1>covidnet: chest X-ray prediction with Grad-CAM</h1><span class="run">run <b>${escapeHtml(info.run)}</b> · ${escapeHtml(info.model)} net · input ${info.size}×${info.size}${info.crop > 0 ? ` · crop ${info.crop}` : ''}</span></header>
<div class="notice">${escapeHtml(info.notice)}</div>
<main>
  <div id="drop" tabindex="0" role="button" aria-label="choose chest X-ray images">
    <p><strong>Drop chest X-ray images here</strong> or click to choose files</p>
    <p style="color:var(--muted);margin:0">PNG, JPEG or DICOM; several at once</p>
    <input id="files" type="file" multiple hidden>
  </div>
  <div class="controls">
    <label>Explain <select id="target"><option value="">the predicted class</option>${options}</select></label>
    ${info.model === 'siamese' ? `<label>against <select id="contrast"><option value="">nothing (plain similarity)</option>${options}</select></label>` : ''}
  </div>
  <p class="privacy">Images go only to the covidnet process on this computer (this page's own address), are not stored, and this page loads nothing from the internet. Scores are ${escapeHtml(scoreWord)}, calibrated on the run's validation images where the run has calibration.json. An image that does not look like the run's training images (its out-of-distribution score above the threshold) gets no class.</p>
  <div id="results"></div>
</main>
<script>
const INFO = ${inlineJson(info)};
const drop = document.getElementById('drop');
const input = document.getElementById('files');
const results = document.getElementById('results');
const el = (tag, props, ...kids) => { const e = document.createElement(tag); Object.assign(e, props || {}); for (const k of kids) e.append(k); return e; };
const fmt = (v) => v === null || v === undefined ? '–' : Number(v).toFixed(3);

drop.addEventListener('click', () => input.click());
drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
input.addEventListener('change', () => { run([...input.files]); input.value = ''; });
for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('over'); });
drop.addEventListener('drop', (e) => run([...e.dataTransfer.files]));

let chain = Promise.resolve();
// newest batch on top, files of a batch in the order chosen
function run(files) {
  const batch = document.createDocumentFragment();
  for (const f of files) {
    const card = el('div', { className: 'card pending', textContent: f.name + ': waiting…' });
    batch.append(card);
    chain = chain.then(() => explain(f, card));
  }
  results.prepend(batch);
}

async function explain(file, card) {
  card.textContent = file.name + ': decoding, predicting, computing Grad-CAM…';
  const q = new URLSearchParams();
  const t = document.getElementById('target').value; if (t) q.set('target', t);
  const c = document.getElementById('contrast'); if (c && c.value) q.set('contrast', c.value);
  let body;
  try {
    const res = await fetch('/api/explain?' + q, { method: 'POST', body: file, headers: { 'x-file-name': encodeURIComponent(file.name), 'content-type': 'application/octet-stream' } });
    body = await res.json();
    if (!res.ok) return showError(card, file.name, body.code, body.error);
  } catch (e) {
    return showError(card, file.name, 'E_NETWORK', 'the covidnet server did not answer (' + e.message + '); is it still running?');
  }
  show(card, body);
}

function showError(card, name, code, msg) {
  card.className = 'card err';
  card.replaceChildren(el('h2', { textContent: name }), el('p', {}, el('span', { className: 'code', textContent: '[' + code + '] ' }), msg));
}

function show(card, r) {
  const ood = r.in_distribution === false;
  card.className = 'card' + (ood ? ' ood' : '');
  const img = el('img', { src: r.overlay, alt: 'Grad-CAM overlay for ' + r.file });
  const left = el('div', {}, img, el('a', { className: 'dl', href: r.overlay, download: r.file.replace(/\\.[^.]*$/, '') + '-gradcam.png', textContent: 'download overlay' }));
  // calibrated probabilities where the run has them; the raw scores stay in the JSON
  const probs = r.calibrated || r.scores;
  const what = r.calibrated ? 'calibrated probabilities' : INFO.scores === 'probability' ? 'probabilities' : 'similarity to class templates';
  const rows = INFO.classes.map((c) => {
    const v = probs[c];
    return el('div', { className: 'row' + (c === r.predicted ? ' top' : '') }, el('span', { textContent: c }),
      el('div', { className: 'track' }, el('div', { className: 'fill', style: 'width:' + Math.max(0, Math.min(1, v)) * 100 + '%' })),
      el('span', { className: 'num', textContent: fmt(v) }));
  });
  const scores = el('div', {}, el('div', { textContent: what, style: 'color:var(--muted);font-size:13px' }), ...rows);
  const pred = el('div', { className: 'pred', textContent: r.predicted });
  const dl = el('dl');
  const add = (k, v) => dl.append(el('dt', { textContent: k }), el('dd', { textContent: v }));
  add('distribution check', r.in_distribution === null ? 'not checked: the run has no ood.json (covidnet ood fit --run RUN)'
    : (ood ? 'out of distribution' : 'in distribution') + ' (ood score ' + fmt(r.ood_score) + (ood ? ' > ' : ' ≤ ') + 'threshold ' + fmt(r.ood_threshold) + ')');
  add('explained', r.target + (r.contrast ? ' minus ' + r.contrast : '') + (r.target === r.predicted ? ' (predicted)' : ''));
  add('heat-map peak', r.peak ? 'x ' + r.peak.x + ', y ' + r.peak.y + ' (of ' + r.width + '×' + r.height + ')' : 'none: no positive evidence at this layer');
  add('border mass', fmt(r.border_mass) + ' (share of heat in the outer 10% band; high = look at the edges, not the lungs)');
  add('time', r.seconds.toFixed(2) + ' s');
  const head = [el('h2', { textContent: r.file })];
  if (ood) {
    // no class by default: the verdict, the score, and a button to see the class anyway (marked)
    const reveal = el('button', { type: 'button', className: 'reveal', textContent: 'show the class anyway' });
    const verdict = el('div', { className: 'verdict', role: 'status' },
      el('strong', { textContent: 'Out of distribution: no class given' }),
      el('p', { textContent: 'This image does not look like the frontal chest X-rays this run was trained on, so its class would mean nothing.' }),
      el('p', { className: 'oodscore', textContent: 'ood score ' + fmt(r.ood_score) + ' > threshold ' + fmt(r.ood_threshold) }), reveal);
    const hidden = el('div', { hidden: true }, el('div', { className: 'marked', textContent: 'out of distribution: unreliable' }), pred, scores);
    reveal.addEventListener('click', () => { hidden.hidden = false; reveal.remove(); });
    head.push(verdict, hidden);
  } else {
    head.push(pred, scores);
  }
  const right = el('div', {}, ...head, dl, el('p', { textContent: r.notice, style: 'color:var(--warn);font-size:13px;margin-top:14px' }));
  card.replaceChildren(left, right);
}
</script>
</body>
</html>
`;
}
