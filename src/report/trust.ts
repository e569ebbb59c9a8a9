/**
 * The run report's trust sections: the run's ood.json and calibration.json (as fitted on
 * validation), and per evaluation the detector's acceptance, ECE before/after with the
 * reliability diagram, ROC curves with bootstrap AUC intervals, operating points and the
 * out-of-distribution sets (`covidnet evaluate --ood`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { escapeXml } from '../util/xml.js';
import type { EvalTrust } from '../evaluate/trust.js';
import type { Interval } from '../evaluate/metrics.js';
import type { BootstrapInterval } from '../trust/stats.js';
import { OOD_FILE, type OodFile } from '../trust/detector.js';
import { CALIBRATION_FILE, type CalibrationFile } from '../trust/calibration.js';
import { reliabilitySpec, renderSpec, rocSpec, type ReliabilityPoint } from './figures.js';

type Save = (name: string, png: Buffer, alt: string) => Promise<string>;

function f(v: number | null | undefined, d = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d);
}

function iv(i: Interval | BootstrapInterval | undefined): string {
  return i && Number.isFinite(i.value) ? `${f(i.value)} [${f(i.lo, 2)}, ${f(i.hi, 2)}]` : '–';
}

function counted(i: Interval): string {
  return `${iv(i)} (${i.x}/${i.n})`;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The run-level section: what ood.json and calibration.json hold (fitted on validation). */
export async function trustFilesSection(runDir: string, notes: string[]): Promise<string> {
  const ood = await readJson<OodFile>(join(runDir, OOD_FILE));
  const cal = await readJson<CalibrationFile>(join(runDir, CALIBRATION_FILE));
  if (!ood && !cal) {
    notes.push('no ood.json / calibration.json (a run trained before they existed): `covidnet ood fit --run RUN` writes them');
    return '';
  }
  const parts: string[] = ['<h2>Out-of-distribution detector and calibration</h2>'];
  if (ood?.signals) {
    const sig = Object.entries(ood.signals).map(([k, s]) => `<tr><td class="l">${escapeXml(k)}</td><td>${f(s.median)}</td><td>${f(s.scale)}</td><td>${f(s.threshold)}</td></tr>`).join('');
    parts.push(
      `<p>ood.json: threshold ${f(ood.threshold)} on ood_score (the mean of the signals, each standardised on the validation images), accepting ${ood.validation.accepted}/${ood.validation.n} validation images (target ${Math.round(ood.target_acceptance * 100)}%). Gaussians on ${ood.gaussians.mahalanobis.n_train} training images, covariance shrinkage ${f(ood.gaussians.mahalanobis.shrinkage)} (embedding) and ${f(ood.gaussians.mahalanobis_stem.shrinkage)} (stem statistics).</p>` +
        `<table><tr><th class="l">signal</th><th>validation median</th><th>robust spread</th><th>own threshold (95%)</th></tr>${sig}</table>`,
    );
  }
  if (cal?.validation) {
    const params = Object.entries(cal.parameters).map(([k, v]) => `${k} ${f(v as number)}`).join(', ');
    parts.push(`<p>calibration.json: ${escapeXml(cal.method)} (${escapeXml(params)}), fitted on ${cal.validation.n} validation images: ECE ${f(cal.validation.ece_before)} → ${f(cal.validation.ece_after)}, NLL ${f(cal.validation.nll_before)} → ${f(cal.validation.nll_after)}.</p>`);
  }
  parts.push('<p class="muted">docs/trust.md explains the scores, how the threshold and the calibration were chosen, and what the detector cannot catch (near-distribution shifts such as another hospital\'s scanner).</p>');
  return parts.join('');
}

/** The trust part of one evaluation's section. */
export async function evalTrustSection(t: EvalTrust, tag: string, n: number, save: Save): Promise<string> {
  const parts: string[] = [];
  if (t.ood) {
    const a = t.ood.acceptance['ood_score']!;
    parts.push(`<p>Out-of-distribution check: ${counted(a)} of these images accepted as in-distribution (threshold ${f(t.ood.threshold)}); accuracy on the accepted ${counted(t.ood.accuracy_accepted)}, on the rejected ${counted(t.ood.accuracy_rejected)}.</p>`);
  }
  const figs: string[] = [];
  if (t.calibration) {
    const c = t.calibration;
    const pts: ReliabilityPoint[] = [
      ...c.reliability.before.filter((b) => b.n > 0).map((b) => ({ series: 'raw', confidence: b.confidence, accuracy: b.accuracy, n: b.n })),
      ...c.reliability.after.filter((b) => b.n > 0).map((b) => ({ series: 'calibrated', confidence: b.confidence, accuracy: b.accuracy, n: b.n })),
    ];
    figs.push(await save(`reliability-${tag}.png`, await renderSpec(reliabilitySpec(pts, `Reliability (${n} images, ${c.bins} bins)`)), `reliability diagram ${tag}`));
    parts.push(`<p>Calibration (${escapeXml(c.method)}, fitted on validation): expected calibration error ${iv(c.ece_before)} raw → ${iv(c.ece_after)} calibrated on these images (95% bootstrap intervals); on validation ${f(c.validation.ece_before)} → ${f(c.validation.ece_after)}.</p>`);
  }
  const classes = Object.keys(t.roc.per_class);
  if (classes.length) {
    const pts = classes.flatMap((c) => t.roc.per_class[c]!.curve.filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr)).map((p) => ({ cls: `${c} (AUC ${f(t.roc.per_class[c]!.auc.value, 2)})`, fpr: p.fpr, tpr: p.tpr })));
    figs.push(await save(`roc-${tag}.png`, await renderSpec(rocSpec(pts, `ROC, one class against the rest (${t.roc.scores})`)), `ROC curves ${tag}`));
    const boot = t.roc.per_class[classes[0]!]!.auc;
    parts.push(
      `<table><tr><th class="l">class</th><th>AUC [95% bootstrap CI]</th><th>positives</th><th>negatives</th></tr>${classes.map((c) => { const r = t.roc.per_class[c]!; return `<tr><td class="l">${escapeXml(c)}</td><td>${iv(r.auc)}</td><td>${r.positives}</td><td>${r.negatives}</td></tr>`; }).join('')}</table>` +
        `<p class="muted">AUC of the ${t.roc.scores === 'calibrated' ? 'calibrated probabilities' : 'raw scores'}, one class against the other two; percentile bootstrap over the images (${boot.replicates} resamples, seed ${boot.seed}).</p>`,
    );
  }
  if (figs.length) parts.unshift(figs.join(' '));
  if (t.operating_points?.length) {
    parts.push(
      `<table><tr><th class="l">operating point (chosen on validation)</th><th>threshold</th><th>validation sensitivity</th><th>validation specificity</th><th>sensitivity</th><th>specificity</th></tr>${t.operating_points.map((p) => `<tr><td class="l">${escapeXml(p.spec)}</td><td>${f(p.threshold)}</td><td>${iv(p.validation.sensitivity)}</td><td>${iv(p.validation.specificity)}</td><td>${counted(p.test.sensitivity)}</td><td>${counted(p.test.specificity)}</td></tr>`).join('')}</table>`,
    );
  }
  const e = t.ood_evaluation;
  if (e) {
    const names = Object.keys(e.kinds[0]?.scores ?? {});
    const head = `<tr><th class="l">kind</th><th>n</th>${names.map((k) => `<th>${escapeXml(k)} AUROC</th><th>${escapeXml(k)} false accept</th>`).join('')}</tr>`;
    const rows = e.kinds.map((k) => `<tr><td class="l">${escapeXml(k.kind)}</td><td>${k.n}</td>${names.map((s) => `<td>${iv(k.scores[s]!.auroc)}</td><td>${iv(k.scores[s]!.false_accept)}</td>`).join('')}</tr>`).join('');
    parts.push(
      `<h3>Out-of-distribution images (${e.n})</h3><p>Against the ${e.in_distribution.n} evaluated images; in-distribution acceptance ${names.map((k) => `${escapeXml(k)} ${iv(e.in_distribution.acceptance[k])}`).join(', ')}. AUROC: 1 = every out-of-distribution image scores above every evaluated one (bootstrap interval); false accept: share taken as chest X-rays at the threshold (Wilson interval).</p><table>${head}${rows}</table>`,
    );
  }
  return parts.join('\n');
}
