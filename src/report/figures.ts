/**
 * Report figures as Vega-Lite specifications rendered server-side: Vega → SVG → PNG (sharp).
 * No hand-drawn charts; the specs are plain data a reader can reuse.
 */
import sharp from 'sharp';
import type { EpochRecord } from '../run/files.js';

type Spec = Record<string, unknown>;
const CLASS_ORDER = ['normal', 'pneumonia', 'COVID-19'];

const FONT = 'DejaVu Sans';
const CONFIG = { font: FONT, view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14 } };

/** Render a Vega-Lite spec to PNG (2× scale, white background). */
export async function renderSpec(spec: Spec, scale = 2): Promise<Buffer> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const clean = JSON.parse(JSON.stringify(spec)) as Spec; // drops undefined channels
  const compiled = vl.compile({ ...clean, config: { ...CONFIG, ...((clean['config'] as Spec | undefined) ?? {}) } } as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG(scale);
    return await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toBuffer();
  } finally {
    view.finalize();
  }
}

/**
 * Whole epochs on the x axis: every epoch up to 12 of them (Vega puts ticks at halves on short
 * facetted runs whatever tickMinStep says), integer ticks beyond. Every layer carries the axis,
 * as Vega-Lite merges the layers' axes.
 */
function epochAxis(epochs: readonly number[]): Spec {
  return epochs.length <= 12 ? { values: [...epochs], format: 'd' } : { tickMinStep: 1, format: 'd' };
}

/** Series of the training-curve panels, in legend order, with their colours. */
const CURVE_SERIES: readonly (readonly [string, string])[] = [
  ['train', '#1f77b4'],
  ['validation', '#d62728'],
  ['validation one-shot', '#ff7f0e'],
  ['validation template', '#9467bd'],
];

/**
 * Training curves, two panels: loss (train and validation) and accuracy (train and validation),
 * best epoch marked. Siamese runs: accuracy is pair accuracy on both sides, with the template and
 * the 3-way one-shot validation accuracies (one of them picks the checkpoint) as further lines. A history written
 * before train accuracy and validation loss were recorded shows the series it has.
 */
export function trainingCurvesSpec(history: readonly EpochRecord[], title: string): Spec {
  const rows: { epoch: number; metric: string; series: string; value: number }[] = [];
  const add = (epoch: number, metric: string, series: string, v: unknown): void => {
    if (typeof v === 'number' && Number.isFinite(v)) rows.push({ epoch, metric, series, value: v });
  };
  for (const h of history) {
    // `accuracy`: the Keras name, for histories converted from a Keras run
    const kerasAccuracy = (h as unknown as Record<string, unknown>)['accuracy'];
    add(h.epoch, 'loss', 'train', h.loss);
    add(h.epoch, 'loss', 'validation', h.val_loss);
    add(h.epoch, 'accuracy', 'train', h.train_accuracy ?? kerasAccuracy);
    if (h.val_metric !== 'accuracy') {
      add(h.epoch, 'accuracy', 'validation', h.val_pair_accuracy);
      add(h.epoch, 'accuracy', 'validation one-shot', h.val_one_shot_accuracy ?? (h.val_metric === 'one_shot_accuracy' ? h.val_accuracy : undefined));
      add(h.epoch, 'accuracy', 'validation template', h.val_template_accuracy ?? (h.val_metric === 'template_accuracy' ? h.val_accuracy : undefined));
    } else {
      add(h.epoch, 'accuracy', 'validation', h.val_accuracy);
    }
  }
  const found = CURVE_SERIES.filter(([name]) => rows.some((r) => r.series === name));
  const present = found.length ? found : CURVE_SERIES;
  const bestEpoch = [...history].reverse().find((h) => h.best)?.epoch;
  const xAxis = epochAxis([...new Set(history.map((h) => h.epoch))]);
  const layer: Spec[] = [
    {
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: xAxis },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: null, scale: { domain: present.map(([n]) => n), range: present.map(([, c]) => c) } },
      },
    },
  ];
  if (bestEpoch !== undefined) {
    layer.push({
      data: { values: [{ epoch: bestEpoch, label: `best epoch ${bestEpoch}` }] },
      layer: [
        { mark: { type: 'rule', strokeDash: [4, 3], color: '#2ca02c' }, encoding: { x: { field: 'epoch', type: 'quantitative', axis: xAxis } } },
        { mark: { type: 'text', align: 'left', dx: 3, dy: -4, color: '#2ca02c', fontSize: 10, baseline: 'top' }, encoding: { x: { field: 'epoch', type: 'quantitative', axis: xAxis }, y: { value: 0 }, text: { field: 'label' } } },
      ],
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values: rows },
    facet: { column: { field: 'metric', type: 'nominal', title: null, sort: ['loss', 'accuracy'] } },
    spec: { width: 260, height: 180, layer },
    resolve: { scale: { y: 'independent' } },
  };
}

/** Confusion matrix as a coloured grid: counts and row rates in each cell (rows: true class). */
export function confusionSpec(classes: readonly string[], confusion: readonly (readonly number[])[], title: string): Spec {
  const values: { truth: string; predicted: string; count: number; rate: number; label: string }[] = [];
  confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, j) => {
      const rate = total > 0 ? count / total : 0;
      values.push({ truth: classes[i]!, predicted: classes[j]!, count, rate, label: `${count}\n${(rate * 100).toFixed(0)}%` });
    });
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: 70 * classes.length,
    height: 70 * classes.length,
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: classes, title: 'predicted', axis: { labelAngle: 0 } },
      y: { field: 'truth', type: 'nominal', sort: classes, title: 'true class' },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'rate', type: 'quantitative', title: 'row rate', scale: { scheme: 'blues', domain: [0, 1] } } } },
      {
        mark: { type: 'text', fontSize: 12, lineBreak: '\n' },
        encoding: {
          text: { field: 'label' },
          color: { condition: { test: 'datum.rate > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

export interface MetricPoint {
  group: string;
  cls: string;
  metric: string;
  value: number;
  lo: number;
  hi: number;
}

/** Per-class rates with 95% intervals as points with error bars, one panel per metric. */
export function metricsSpec(points: readonly MetricPoint[], title: string): Spec {
  const groups = [...new Set(points.map((p) => p.group))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values: points },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 150,
      height: 120,
      encoding: {
        y: { field: 'cls', type: 'nominal', title: null, sort: CLASS_ORDER },
        yOffset: groups.length > 1 ? { field: 'group' } : undefined,
        color: { field: 'group', type: 'nominal', title: null, legend: groups.length > 1 ? {} : null },
      },
      layer: [
        { mark: { type: 'rule' }, encoding: { x: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] }, title: null }, x2: { field: 'hi' } } },
        { mark: { type: 'point', filled: true, size: 50 }, encoding: { x: { field: 'value', type: 'quantitative' } } },
      ],
    },
  };
}

/** Grouped bars (e.g. accuracy per run). */
export function barsSpec(values: readonly { group: string; metric: string; value: number }[], title: string): Spec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 140,
      height: 160,
      encoding: {
        x: { field: 'group', type: 'nominal', title: null, axis: { labelAngle: -30 } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { domain: [0, 1] } },
        color: { field: 'group', type: 'nominal', legend: null },
      },
      layer: [{ mark: 'bar' }, { mark: { type: 'text', dy: -6, fontSize: 10 }, encoding: { text: { field: 'value', type: 'quantitative', format: '.2f' } } }],
    },
    resolve: { scale: { y: 'shared' } },
  };
}

/** The dashed y = x line of calibration and ROC plots (perfect calibration, chance). */
const DIAGONAL = {
  data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
  mark: { type: 'line', strokeDash: [4, 3], color: '#888' },
  encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
};

/** A 260 × 260 plot on [0, 1]² with the dashed diagonal under `layers`. */
function squareWithDiagonal(title: string, layers: object[]): Spec {
  return { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title, width: 260, height: 260, layer: [DIAGONAL, ...layers] };
}

/** One bin of a reliability diagram. */
export interface ReliabilityPoint {
  series: string;
  confidence: number;
  accuracy: number;
  n: number;
}

/**
 * Reliability diagram: accuracy against mean confidence per confidence bin, one line per series
 * (raw and calibrated), point size by the bin's images, the diagonal of perfect calibration.
 */
export function reliabilitySpec(points: readonly ReliabilityPoint[], title: string): Spec {
  const series = [...new Set(points.map((p) => p.series))];
  return squareWithDiagonal(title, [
      {
        data: { values: points },
        encoding: {
          x: { field: 'confidence', type: 'quantitative', title: 'confidence (top-class probability)', scale: { domain: [0, 1] } },
          y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } },
          color: { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: ['#d62728', '#1f77b4', '#2ca02c'] } },
        },
        layer: [
          { mark: { type: 'line', strokeWidth: 1.5 } },
          { mark: { type: 'point', filled: true, opacity: 0.8 }, encoding: { size: { field: 'n', type: 'quantitative', title: 'images per bin', scale: { range: [15, 400] } } } },
        ],
      },
  ]);
}

export interface RocCurvePoint {
  cls: string;
  fpr: number;
  tpr: number;
}

/** ROC curves, one per class (one against the rest), with the chance diagonal. */
export function rocSpec(points: readonly RocCurvePoint[], title: string): Spec {
  const classes = [...new Set(points.map((p) => p.cls))];
  return squareWithDiagonal(title, [
      {
        data: { values: points.map((p, i) => ({ ...p, order: i })) },
        mark: { type: 'line' },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: '1 − specificity', scale: { domain: [0, 1] } },
          y: { field: 'tpr', type: 'quantitative', title: 'sensitivity', scale: { domain: [0, 1] } },
          color: { field: 'cls', type: 'nominal', title: null, sort: classes, legend: { labelLimit: 0 } },
          order: { field: 'order', type: 'quantitative' },
        },
      },
  ]);
}

export interface CurvePoint {
  series: string;
  /** Training images per class. */
  x: number;
  mean: number;
  lo: number;
  hi: number;
}

/**
 * Learning curves: a metric against training images per class (log axis), one line per net with
 * its 95% interval band, and dashed reference lines (chance, the source-only baseline).
 */
export function learningCurveSpec(points: readonly CurvePoint[], refs: readonly { label: string; value: number }[], title: string, metric: string, xTitle = 'training images per class (log scale)'): Spec {
  const band = points.map((p) => ({ ...p, lo: Number.isFinite(p.lo) ? p.lo : p.mean, hi: Number.isFinite(p.hi) ? p.hi : p.mean }));
  const xs = points.map((p) => p.x);
  const x = { field: 'x', type: 'quantitative', title: xTitle, scale: { type: 'log', domain: [Math.min(...xs) * 0.8, Math.max(...xs) * 1.25] }, axis: { values: [...new Set(xs.map((v) => Math.round(v)))] } };
  const y = { type: 'quantitative', scale: { domain: [0, 1] } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 420,
    height: 260,
    layer: [
      { data: { values: band }, mark: { type: 'errorband', opacity: 0.18 }, encoding: { x, y: { ...y, field: 'lo', title: metric }, y2: { field: 'hi' }, color: { field: 'series', type: 'nominal', title: null } } },
      { data: { values: band }, mark: { type: 'line', point: true }, encoding: { x, y: { ...y, field: 'mean', title: metric }, color: { field: 'series', type: 'nominal', title: null } } },
      ...(refs.length
        ? [
            { data: { values: refs }, mark: { type: 'rule', strokeDash: [4, 3], color: '#666' }, encoding: { y: { ...y, field: 'value' } } },
            // labels at the right end, alternately above and below the line, so close lines stay readable
            ...refs.map((r, i) => ({ data: { values: [r] }, mark: { type: 'text', align: 'right', dy: i % 2 ? 9 : -7, fontSize: 10, color: '#444' }, encoding: { y: { ...y, field: 'value' }, x: { datum: Math.max(...xs) * 1.2, type: 'quantitative', scale: x.scale }, text: { field: 'label' } } })),
          ]
        : []),
    ],
  };
}

export interface ForestRow {
  label: string;
  difference: number;
  lo: number;
  hi: number;
  significant: boolean;
}

/** Forest plot of paired differences with their 95% intervals and the no-difference line. */
export function forestSpec(rows: readonly ForestRow[], title: string, metric: string): Spec {
  const lim = Math.max(0.1, ...rows.flatMap((r) => [Math.abs(r.lo), Math.abs(r.hi)])) * 1.1;
  const x = { type: 'quantitative', scale: { domain: [-lim, lim] }, title: metric };
  const yEnc = { field: 'label', type: 'nominal', title: null, sort: rows.map((r) => r.label), axis: { labelLimit: 400 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 380,
    height: Math.max(60, 26 * rows.length),
    layer: [
      { data: { values: [{ z: 0 }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#888' }, encoding: { x: { ...x, field: 'z' } } },
      { data: { values: rows }, mark: { type: 'rule', strokeWidth: 2 }, encoding: { y: yEnc, x: { ...x, field: 'lo' }, x2: { field: 'hi' }, color: { field: 'significant', type: 'nominal', scale: { domain: [true, false], range: ['#d62728', '#1f77b4'] }, title: 'interval excludes 0' } } },
      { data: { values: rows }, mark: { type: 'point', filled: true, size: 60 }, encoding: { y: yEnc, x: { ...x, field: 'difference' }, color: { field: 'significant', type: 'nominal', scale: { domain: [true, false], range: ['#d62728', '#1f77b4'] } } } },
    ],
  };
}

/** One point per seed and the mean with its 95% interval, per configuration. */
export function seedDotsSpec(rows: readonly { config: string; value: number }[], means: readonly { config: string; mean: number; lo: number; hi: number }[], title: string, metric: string): Spec {
  const order = means.map((m) => m.config);
  const x = { type: 'quantitative', scale: { domain: [0, 1] }, title: metric };
  const yEnc = { field: 'config', type: 'nominal', title: null, sort: order };
  const safe = means.map((m) => ({ ...m, lo: Number.isFinite(m.lo) ? m.lo : m.mean, hi: Number.isFinite(m.hi) ? m.hi : m.mean }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 380,
    height: Math.max(60, 30 * order.length),
    layer: [
      { data: { values: rows }, mark: { type: 'point', opacity: 0.6, color: '#888' }, encoding: { y: yEnc, x: { ...x, field: 'value' } } },
      { data: { values: safe }, mark: { type: 'rule', strokeWidth: 2, color: '#1f77b4' }, encoding: { y: yEnc, x: { ...x, field: 'lo' }, x2: { field: 'hi' } } },
      { data: { values: safe }, mark: { type: 'tick', thickness: 3, color: '#1f77b4' }, encoding: { y: yEnc, x: { ...x, field: 'mean' } } },
    ],
  };
}
