/**
 * The experiment report: `EXPERIMENT/report/index.html` (self-contained, figures inlined) plus the
 * figures as PNG beside it. A table per configuration (mean, sd, 95% t interval across seeds),
 * the seeds as dots, learning curves (scarcity), a forest plot of the paired differences with their
 * reading, the results per source and the shortcut audit.
 */
import { join, resolve } from 'node:path';
import { CLASSES, type ClassName } from '../types.js';
import type { ExperimentStats } from '../evaluate/experiment.js';
import type { SeedSummary } from '../evaluate/stats.js';
import { writeFileAtomic } from '../run/atomic.js';
import { escapeXml } from '../util/xml.js';
import { forestSpec, learningCurveSpec, renderSpec, seedDotsSpec, type CurvePoint } from './figures.js';
import { figureImg, page } from './report.js';

/** What the report says about the experiment itself (experiment.json's fields it shows). */
export interface ExperimentReportInput extends ExperimentStats {
  experiment: {
    kind: string;
    grid: { data: string; seeds: number[]; splitSeeds: number[]; train: Record<string, unknown>; nets: { name: string; model: string; recipe?: string; epochs?: number }[] };
    data: { root: string; name: string; images: number; hash: string };
    code: { version: string; commit: string | null; dirty: boolean | null; node: string };
    createdAt: string;
  };
  missing: { id: string; status: string }[];
}

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
const cell = (s: SeedSummary) => (s.n > 1 ? `${f3(s.mean)} <span class="muted">± ${f3(s.sd)} [${f3(s.lo)}, ${f3(s.hi)}]</span>` : f3(s.mean));
const sizeLabel = (n: number | null) => (n === null ? 'all' : String(n));

export async function writeExperimentReport(experimentDir: string, a: ExperimentReportInput): Promise<string> {
  const dir = join(resolve(experimentDir), 'report');
  const parts: string[] = [];
  const save = async (name: string, png: Buffer, alt: string) => {
    await writeFileAtomic(join(dir, name), png);
    return figureImg(png, alt);
  };
  const e = a.experiment;
  // analyses written before experiments could have other classes lack the list
  const cls: readonly ClassName[] = a.classes ?? CLASSES;
  parts.push(
    `<p>${escapeXml(e.kind)} experiment on <b>${escapeXml(e.data.name)}</b> (${e.data.images} images, content hash ${e.data.hash.slice(0, 12)}), ` +
      `training seeds ${e.grid.seeds.join(', ')}, split seeds ${e.grid.splitSeeds.join(', ')}; nets: ${e.grid.nets.map((n) => `${escapeXml(n.name)} (${n.model}${n.recipe ? `, ${escapeXml(n.recipe)} recipe` : ''}${n.epochs ? `, ${n.epochs} epochs` : ''})`).join('; ')}; ` +
      `shared options <code>${escapeXml(JSON.stringify(e.grid.train))}</code>. covidnet ${escapeXml(e.code.version)}${e.code.commit ? ` at ${e.code.commit.slice(0, 10)}${e.code.dirty ? ' (uncommitted changes)' : ''}` : ''}, Node ${escapeXml(e.code.node)}.</p>`,
  );
  if (a.missing.length) parts.push(`<p class="notice">Not finished, left out: ${a.missing.map((m) => `${escapeXml(m.id)} (${escapeXml(m.status)})`).join(', ')}.</p>`);

  parts.push('<h2>Per configuration: test metrics across seeds</h2><p class="muted">mean ± sd [95% Student-t interval of the mean over the cells].</p>');
  parts.push(
    `<table><tr><th class="l">configuration</th><th>cells</th><th>train images / class</th><th>test images</th><th>accuracy</th><th>balanced accuracy</th>${cls.map((c) => `<th>sensitivity ${escapeXml(c)}</th>`).join('')}${cls.map((c) => `<th>PPV ${escapeXml(c)}</th>`).join('')}</tr>` +
      a.configs
        .map((c) => `<tr><td class="l">${escapeXml(c.key)}</td><td>${c.cells.length}</td><td>${c.trainPerClass.toFixed(0)}</td><td>${[...new Set(c.n_test)].join(', ')}</td><td>${cell(c.accuracy)}</td><td>${cell(c.balanced_accuracy)}</td>${cls.map((k) => `<td>${cell(c.sensitivity[k])}</td>`).join('')}${cls.map((k) => `<td>${cell(c.ppv[k])}</td>`).join('')}</tr>`)
        .join('') +
      '</table>',
  );
  const dots = a.configs.flatMap((c) => c.balanced_accuracy.values.map((v) => ({ config: c.key, value: v })));
  const means = a.configs.map((c) => ({ config: c.key, mean: c.balanced_accuracy.mean, lo: c.balanced_accuracy.lo, hi: c.balanced_accuracy.hi }));
  parts.push(await save('seeds-balanced-accuracy.png', await renderSpec(seedDotsSpec(dots, means, 'Test balanced accuracy: each seed (grey) and the mean with its 95% interval', 'balanced accuracy')), 'balanced accuracy per seed'));

  if (a.sizes.length > 1) {
    const pts: CurvePoint[] = a.configs.map((c) => ({ series: c.net, x: c.trainPerClass, mean: c.balanced_accuracy.mean, lo: c.balanced_accuracy.lo, hi: c.balanced_accuracy.hi }));
    const so = a.configs.filter((c) => c.perClass === null && c.audit).map((c) => c.audit!.source_only_balanced_accuracy.mean)[0];
    const refs = [{ label: 'chance', value: 1 / cls.length }, ...(so !== undefined ? [{ label: 'source-only baseline', value: so }] : [])];
    parts.push('<h2>Learning curves</h2>');
    parts.push(await save('learning-curves.png', await renderSpec(learningCurveSpec(pts, refs, 'Test balanced accuracy against training images per class (bands: 95% intervals across seeds)', 'balanced accuracy')), 'learning curves'));
    for (const k of cls) {
      const pk: CurvePoint[] = a.configs.map((c) => ({ series: c.net, x: c.trainPerClass, mean: c.sensitivity[k].mean, lo: c.sensitivity[k].lo, hi: c.sensitivity[k].hi }));
      parts.push(await save(`learning-curves-${k}.png`, await renderSpec(learningCurveSpec(pk, [], `Sensitivity ${k}`, `sensitivity ${k}`)), `learning curve sensitivity ${k}`));
    }
  }

  if (a.comparisons.length) {
    parts.push(`<h2>Paired differences</h2><p class="muted">Balanced accuracy of each net minus the ${escapeXml(a.nets[0]!)} net's, on the same test images and seeds; percentile bootstrap over test images and seed pairs (${a.bootstrap.replicates} resamples, seed ${a.bootstrap.seed}); McNemar's exact test per seed pair on per-image correctness.</p>`);
    const rows = a.comparisons.map((c) => ({ label: `${c.a} − ${c.b}${a.sizes.length > 1 ? ` @ ${sizeLabel(c.perClass)}` : ''}`, difference: c.difference.difference, lo: c.difference.lo, hi: c.difference.hi, significant: c.difference.significant }));
    parts.push(await save('forest.png', await renderSpec(forestSpec(rows, 'Paired differences in test balanced accuracy (95% bootstrap intervals)', 'difference in balanced accuracy')), 'forest plot'));
    parts.push(`<ul>${a.comparisons.map((c) => `<li>${escapeXml(c.reading)}</li>`).join('')}</ul>`);
    parts.push(
      `<table><tr><th class="l">pair</th><th class="l">cells</th><th>accuracy a</th><th>accuracy b</th><th>a right, b wrong</th><th>a wrong, b right</th><th>McNemar exact p</th></tr>` +
        a.comparisons.flatMap((c) => c.mcnemar.map((m) => `<tr><td class="l">${escapeXml(c.a)} vs ${escapeXml(c.b)}</td><td class="l">${escapeXml(m.cell_a)} / ${escapeXml(m.cell_b)}</td><td>${f3(m.accuracy_a)}</td><td>${f3(m.accuracy_b)}</td><td>${m.b}</td><td>${m.c}</td><td>${m.p < 0.001 ? m.p.toExponential(1) : f3(m.p)}</td></tr>`)).join('') +
        '</table>',
    );
  }

  parts.push('<h2>By source</h2><p class="muted">Test images of each source per cell, accuracy and per-class sensitivity: mean across cells (± sd).</p>');
  for (const c of a.configs.filter((x) => x.perClass === null || a.sizes.length === 1)) {
    parts.push(
      `<h3>${escapeXml(c.key)}</h3><table><tr><th class="l">source</th><th>images</th><th>accuracy</th>${cls.map((k) => `<th>sensitivity ${escapeXml(k)} (images)</th>`).join('')}</tr>` +
        c.by_source
          .map((s) => `<tr><td class="l">${escapeXml(s.source)}</td><td>${s.support.toFixed(0)}</td><td>${cell(s.accuracy)}</td>${cls.map((k) => { const p = s.per_class[k]; return `<td>${p.sensitivity ? `${cell(p.sensitivity)} (${p.support.toFixed(0)})` : '–'}</td>`; }).join('')}</tr>`)
          .join('') +
        '</table>',
    );
  }

  const audited = a.configs.filter((c) => c.audit);
  if (audited.length) {
    parts.push(
      '<h2>Shortcut audit</h2><p class="muted">Probe: multinomial logistic regression of the image source from the run\'s 256-unit embedding, 5-fold cross-validation grouped by patient, over every labelled image; chance = the most common source\'s share (accuracy) or 1/K (balanced). ' +
        'Within a class the source says nothing about the disease, so a within-class probe above chance means the embedding carries the source itself. Source-only baseline: every test image gets the most common training class of its source. ' +
        'Minority-of-source images: test images whose class is under 1/3 of their source\'s training images (a net reading the source gets them wrong).</p>',
    );
    parts.push(
      `<table><tr><th class="l">configuration</th><th>probe accuracy (chance)</th><th>probe balanced accuracy (chance)</th><th>source from class alone</th>${cls.map((k) => `<th>within ${escapeXml(k)}: balanced (chance)</th>`).join('')}<th>source-only baseline balanced acc.</th><th>net balanced acc.</th><th>minority-of-source accuracy (pooled)</th></tr>` +
        audited
          .map((c) => {
            const au = c.audit!;
            return `<tr><td class="l">${escapeXml(c.key)}</td><td>${cell(au.probe_accuracy)} (${f3(au.probe_chance_accuracy)})</td><td>${cell(au.probe_balanced_accuracy)} (${f3(au.probe_chance_balanced_accuracy)})</td><td>${f3(au.class_only_accuracy)}</td>${cls.map((k) => { const w = au.within_class[k]; return `<td>${w ? `${cell(w.balanced_accuracy)} (${f3(w.chance)}; ${w.sources.map(escapeXml).join(', ')})` : '–'}</td>`; }).join('')}<td>${cell(au.source_only_balanced_accuracy)}</td><td>${cell(c.balanced_accuracy)}</td><td>${cell(au.minority_of_source_accuracy)} (${au.minority_of_source_pooled.correct}/${au.minority_of_source_pooled.n})</td></tr>`;
          })
          .join('') +
        '</table>',
    );
  }
  const html = join(dir, 'index.html');
  await writeFileAtomic(html, page(`covidnet ${e.kind} experiment: ${e.data.name}`, parts.join('\n')));
  return html;
}
