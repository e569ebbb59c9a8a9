/** What the web app knows about its run besides the run files (site.json); Node-free. */
import type { ClassName, ModelKind } from '../types.js';
import type { ScoreKind } from '../run/scorer.js';

/** What a page knows about its run: the web app's site.json and serve's `GET /api/info` share it. */
export interface RunInfo {
  /** The run folder's name (no path: the page is not told where files live). */
  run: string;
  model: ModelKind;
  size: number;
  crop: number;
  classes: readonly ClassName[];
  scores: ScoreKind;
  notice: string;
}

export interface SiteInfo extends RunInfo {
  /** Images per model input batch (the run's evalBatch). */
  evalBatch: number;
  /** The overlay's colour map as 256 × RGB (the CLI's table, src/explain/colormap.ts). */
  colormap: number[];
  /** Which optional run files the site has. */
  has: { templates: boolean; ood: boolean; calibration: boolean };
}

/** File names inside a site (relative URLs of the page). */
export const SITE_FILES = {
  index: 'index.html',
  css: 'app.css',
  script: 'app.js',
  info: 'site.json',
  preprocess: 'preprocess.json',
  templates: 'templates.json',
  ood: 'ood.json',
  calibration: 'calibration.json',
  model: 'model/model.json',
  notice: 'NOTICE.txt',
} as const;
