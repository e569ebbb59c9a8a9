/**
 * Small PNG figures of diagnostics (docs/siamese.md): Vega-Lite line charts rendered to SVG by Vega
 * and rasterised by sharp, as the report figures are. Loaded lazily by the CLI.
 */
import type { ProbeStats } from './diagnose.js';

export interface Row {
  step: number;
  value: number;
  series: string;
  recipe: string;
  lo?: number;
  hi?: number;
}

/** A faceted (one panel per recipe) line chart with optional ±band; returns PNG bytes. */
export async function lineChartPng(rows: readonly Row[], opts: { title: string; y: string; log?: boolean; width?: number }): Promise<Buffer> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const { default: sharp } = await import('sharp');
  const scale = opts.log ? { type: 'log' as const } : { zero: false };
  const layers: object[] = [
    {
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'training step' },
        y: { field: 'value', type: 'quantitative', title: opts.y, scale },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  ];
  if (rows.some((r) => r.lo !== undefined)) {
    layers.unshift({
      mark: { type: 'area', opacity: 0.2 },
      encoding: {
        x: { field: 'step', type: 'quantitative' },
        y: { field: 'lo', type: 'quantitative', scale },
        y2: { field: 'hi' },
        color: { field: 'series', type: 'nominal' },
      },
    });
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title,
    data: { values: rows.map((r) => ({ ...r })) },
    facet: { column: { field: 'recipe', type: 'nominal', title: null } },
    spec: { width: opts.width ?? 260, height: 170, layer: layers },
    resolve: { scale: { y: 'independent' } },
    config: { font: 'DejaVu Sans', background: 'white', legend: { labelLimit: 320 } },
  };
  const compiled = vl.compile(spec as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return sharp(Buffer.from(svg), { density: 110 }).png().toBuffer();
}

/** The figures of a diagnose run: name → PNG. `runs` maps recipe name → its probes. */
export async function diagnosticFigures(runs: Record<string, readonly ProbeStats[]>): Promise<Record<string, Buffer>> {
  const rows = (f: (p: ProbeStats) => { series: string; value: number; lo?: number; hi?: number }[]): Row[] =>
    Object.entries(runs).flatMap(([recipe, ps]) => ps.flatMap((p) => f(p).map((r) => ({ ...r, step: p.step, recipe }))));
  const ms = (series: string, m: { mean: number; std: number }) => ({ series, value: m.mean, lo: m.mean - m.std, hi: m.mean + m.std });
  return {
    'siamese-logit-spread.png': await lineChartPng(
      rows((p) => [ms('same pairs', p.logitSame), ms('different pairs', p.logitDifferent)]),
      { title: "'different' logit (pre-sigmoid), mean ± std on the probe pairs", y: 'logit' },
    ),
    'siamese-gradients.png': await lineChartPng(
      rows((p) => [
        { series: '‖∂L/∂embedding‖', value: Math.max(p.grad.embedding, 1e-12) },
        { series: '‖∂L/∂|a−b|‖', value: Math.max(p.grad.absDiff, 1e-12) },
        { series: '‖∂L/∂encoder weights‖', value: Math.max(p.grad.encoderWeights, 1e-12) },
      ]),
      { title: 'gradient norms of the loss on the probe pairs', y: 'L2 norm', log: true },
    ),
    'siamese-embedding.png': await lineChartPng(
      rows((p) => [
        { series: 'dead embedding units (share)', value: p.embedding.deadUnits },
        { series: 'zero activations (share)', value: p.embedding.zeroShare },
        { series: 'probe pair accuracy', value: p.pairAccuracy },
      ]),
      { title: 'embedding units and pair accuracy (P(different) > 0.5)', y: 'share' },
    ),
    'siamese-loss.png': await lineChartPng(
      rows((p) => (Number.isFinite(p.loss) ? [{ series: 'training loss', value: p.loss }] : [])),
      { title: 'mean training loss between probes', y: 'loss' },
    ),
  };
}
