/**
 * The few-shot experiment's report: `EXPERIMENT/report/index.html` (figures inlined, PNGs beside
 * it). Curves of the new class's sensitivity and specificity and of the balanced accuracy over
 * every class against K (examples of the new class), one line per method with its 95% interval
 * across seeds; the table behind them; the paired differences against the siamese templates.
 */
import { join } from 'node:path';
import type { ClassName } from '../types.js';
import type { ExperimentStats } from '../evaluate/experiment.js';
import type { SeedSummary } from '../evaluate/stats.js';
import { writeFileAtomic } from '../run/atomic.js';
import { escapeXml } from '../util/xml.js';
import { learningCurveSpec, renderSpec, type CurvePoint } from './figures.js';
import { figureImg, page } from './report.js';

export interface FewShotReportPoint {
  method: string;
  k: number;
  cells: string[];
  new_class_sensitivity: SeedSummary;
  new_class_specificity: SeedSummary;
  balanced_accuracy: SeedSummary;
  chosen?: ('all' | 'head')[];
}

export interface FewShotReportInput {
  newClass: ClassName;
  baseClasses: ClassName[];
  shots: number[];
  seeds: number[];
  points: FewShotReportPoint[];
  stats: ExperimentStats;
  data: { name: string; images: number; hash: string };
  code: { version: string; commit: string | null; dirty: boolean | null; node: string };
}

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
const cell = (s: SeedSummary) => (s.n > 1 ? `${f3(s.mean)} <span class="muted">± ${f3(s.sd)} [${f3(s.lo)}, ${f3(s.hi)}]</span>` : f3(s.mean));

export async function writeFewShotReport(out: string, r: FewShotReportInput): Promise<string> {
  const dir = join(out, 'report');
  const parts: string[] = [];
  parts.push(
    `<p>Few-shot experiment on <b>${escapeXml(r.data.name)}</b> (${r.data.images} images, content hash ${r.data.hash.slice(0, 12)}): the nets are trained on ${r.baseClasses.map(escapeXml).join(', ')}; ` +
      `<b>${escapeXml(r.newClass)}</b> is then added from K of its training images (K = ${r.shots.join(', ')}; the same images for every method of a seed), seeds ${r.seeds.join(', ')}, one patient-disjoint split. ` +
      `covidnet ${escapeXml(r.code.version)}${r.code.commit ? ` at ${r.code.commit.slice(0, 10)}${r.code.dirty ? ' (uncommitted changes)' : ''}` : ''}.</p>` +
      '<p>Methods: <i>siamese templates</i>: the new class\'s template is the mean embedding of the K images, no training; <i>single fine-tuned</i>: the single net trained without the class, given a new output and fine-tuned on the training images with only K of the new class (all layers or only the dense head, whichever is better on validation); <i>single all classes</i>: a single net trained with every training image of every class (the reference; it does not depend on K).</p>',
  );
  const save = async (name: string, png: Buffer, alt: string) => {
    await writeFileAtomic(join(dir, name), png);
    return figureImg(png, alt);
  };
  const curve = async (file: string, pick: (p: FewShotReportPoint) => SeedSummary, title: string, metric: string) => {
    const pts: CurvePoint[] = r.points.map((p) => ({ series: p.method, x: p.k, mean: pick(p).mean, lo: pick(p).lo, hi: pick(p).hi }));
    return save(file, await renderSpec(learningCurveSpec(pts, [], title, metric, `examples of ${r.newClass} (K, log scale)`)), title);
  };
  parts.push('<h2>Against K</h2>');
  parts.push(await curve('few-shot-sensitivity.png', (p) => p.new_class_sensitivity, `${r.newClass}: sensitivity (test, 95% intervals across seeds)`, 'sensitivity'));
  parts.push(await curve('few-shot-specificity.png', (p) => p.new_class_specificity, `${r.newClass}: specificity (test, 95% intervals across seeds)`, 'specificity'));
  parts.push(await curve('few-shot-balanced-accuracy.png', (p) => p.balanced_accuracy, 'Balanced accuracy over every class (test, 95% intervals across seeds)', 'balanced accuracy'));
  parts.push(
    `<h2>Table</h2><p class="muted">mean ± sd [95% Student-t interval of the mean over the seeds].</p><table><tr><th class="l">method</th><th>K</th><th>seeds</th><th>sensitivity ${escapeXml(r.newClass)}</th><th>specificity ${escapeXml(r.newClass)}</th><th>balanced accuracy</th><th class="l">fine-tuning chosen on validation</th></tr>` +
      r.points
        .map((p) => `<tr><td class="l">${escapeXml(p.method)}</td><td>${p.k}</td><td>${p.cells.length}</td><td>${cell(p.new_class_sensitivity)}</td><td>${cell(p.new_class_specificity)}</td><td>${cell(p.balanced_accuracy)}</td><td class="l">${p.chosen ? p.chosen.join(', ') : ''}</td></tr>`)
        .join('') +
      '</table>',
  );
  if (r.stats.comparisons.length) {
    parts.push(
      '<h2>Paired differences in balanced accuracy</h2><p class="muted">Each method against the siamese templates at the same K and seeds: bootstrap over test images and seed pairs, McNemar exact test per seed.</p><table><tr><th class="l">comparison</th><th>K</th><th>difference [95% CI]</th><th>McNemar p &lt; 0.05</th><th class="l">reading</th></tr>' +
        r.stats.comparisons
          .map((c) => `<tr><td class="l">${escapeXml(c.a)} − ${escapeXml(c.b)}</td><td>${c.perClass ?? ''}</td><td>${f3(c.difference.difference)} [${f3(c.difference.lo)}, ${f3(c.difference.hi)}]</td><td>${c.mcnemar_significant}/${c.mcnemar.length}</td><td class="l">${escapeXml(c.reading)}</td></tr>`)
          .join('') +
        '</table>',
    );
  }
  const html = join(dir, 'index.html');
  await writeFileAtomic(html, page(`covidnet few-shot experiment: ${r.newClass} on ${r.data.name}`, parts.join('\n')));
  return html;
}
