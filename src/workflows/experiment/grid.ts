/**
 * An experiment is a grid of cells; a cell is one training run (a run folder) plus its test
 * evaluation and shortcut audit. The grid is plain data: the nets (model + recipe), the training
 * seeds, the split seeds, and per kind one more axis (training images per class for `scarcity`,
 * the crop for `crop`, learning rate × batch size for `search`). Cells are self-contained units of work (a config in, a run folder out), so
 * a queue can hand one to another process or machine.
 */
import { optionError } from '../../errors.js';
import type { ModelKind } from '../../types.js';
import type { RunConfigInput } from '../../config.js';
import { cellName } from '../../train/search.js';

export type ExperimentKind = 'compare' | 'scarcity' | 'crop' | 'search';

/** One network configuration of the grid. */
export interface NetSpec {
  /** Name in cell ids and tables: `single`, `siamese` (default recipe), `siamese-study`, …. */
  name: string;
  model: ModelKind;
  recipe?: string;
  /** Training epochs of this net (default: the run options' per-model default). */
  epochs?: number;
  /** Fraction cut from each side (crop experiment). */
  crop?: number;
}

/** Training options every cell shares (everything but model, recipe, data, out, seeds, perClass). */
export type SharedTrainOptions = Omit<RunConfigInput, 'model' | 'recipe' | 'data' | 'out' | 'seed' | 'splitSeed' | 'perClass' | 'epochs' | 'crop' | 'stopAfter' | 'initFrom'>;

export interface GridSpec {
  kind: ExperimentKind;
  data: string;
  nets: NetSpec[];
  /** Training seeds (initialisation, samplers, the per-class subset). */
  seeds: number[];
  /** Split seeds: every cell with the same split seed has the same train/val/test split. */
  splitSeeds: number[];
  /** Scarcity: training images per class; `null` = all of them. */
  perClass?: (number | null)[];
  /** Search: learning rates × batch sizes, one short training run each (`lr1e-4-b16`). */
  lrs?: number[];
  batches?: number[];
  train: SharedTrainOptions;
}

export interface CellSpec {
  /** Path-like id, also the cell's folder under `cells/`: `single/seed-1`, `siamese/n-10/seed-2`, `split-2/single/seed-1`. */
  id: string;
  net: string;
  seed: number;
  splitSeed: number;
  /** Training images per class (scarcity), null for all. */
  perClass: number | null;
  /** The run's training config, without `out` (the runner puts the run in the cell's folder). */
  config: Omit<RunConfigInput, 'out'>;
  /**
   * `false`: a training run only (search cells), no test evaluation and no audit, so model
   * selection never sees test data; cell.json carries the validation numbers instead. Absent
   * otherwise, so the cells of earlier experiments keep their specs.
   */
  evaluate?: false;
  /** `false`: evaluate without the shortcut audit (few-shot cells); absent otherwise. */
  audit?: false;
}

/** A search cell's id (and folder under `cells/`): `lr1e-4-b16`, the run folder name of the old search. */
export const searchCellId = cellName;

/** `1,2,5` or a count `5` (= 1..5). */
export function parseSeeds(flag: string, v: string | number): number[] {
  const s = String(v).trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 1000) throw optionError(flag, 'a count from 1 to 1000 or a list of seeds like 1,2,7', v);
    return Array.from({ length: n }, (_, i) => i + 1);
  }
  const list = s.split(',').map((x) => x.trim());
  if (list.length === 0 || list.some((x) => !/^\d+$/.test(x) || Number(x) >= 2 ** 31)) throw optionError(flag, 'a count or a comma-separated list of seeds', v);
  const seeds = list.map(Number);
  if (new Set(seeds).size !== seeds.length) throw optionError(flag, 'seeds without repeats', v);
  return seeds;
}

/** `5,10,20,50,all`: training images per class, increasing; `all` = the whole training split. */
export function parsePerClass(v: string): (number | null)[] {
  const parts = v.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  const out = parts.map((p) => (p === 'all' ? null : /^\d+$/.test(p) && Number(p) >= 1 && Number(p) <= 1e7 ? Number(p) : NaN));
  if (out.length === 0 || out.some((x) => Number.isNaN(x))) throw optionError('--per-class', 'comma-separated positive integers and/or all, e.g. 5,10,20,50,all', v);
  const nums = out.filter((x): x is number => x !== null);
  if (new Set(out).size !== out.length || nums.some((x, i) => i > 0 && x <= nums[i - 1]!)) throw optionError('--per-class', 'increasing sizes without repeats', v);
  return out;
}

/** Every cell of the grid, in the order they run: split seed, size, seed, net (so a paired comparison completes early). */
export function expandGrid(g: GridSpec): CellSpec[] {
  if (g.nets.length === 0) throw optionError('--recipes', 'at least one net', 'none');
  if (new Set(g.nets.map((n) => n.name)).size !== g.nets.length) throw optionError('--recipes', 'distinct nets', g.nets.map((n) => n.name).join(','));
  if (g.kind === 'search') return expandSearch(g);
  const sizes = g.kind === 'scarcity' ? (g.perClass ?? [null]) : [null];
  const cells: CellSpec[] = [];
  for (const splitSeed of g.splitSeeds) {
    for (const perClass of sizes) {
      for (const seed of g.seeds) {
        for (const net of g.nets) {
          const parts = [
            ...(g.splitSeeds.length > 1 ? [`split-${splitSeed}`] : []),
            net.name,
            ...(g.kind === 'scarcity' ? [perClass === null ? 'n-all' : `n-${perClass}`] : []),
            `seed-${seed}`,
          ];
          cells.push({
            id: parts.join('/'),
            net: net.name,
            seed,
            splitSeed,
            perClass,
            config: cellConfig(g, net, seed, splitSeed, perClass),
          });
        }
      }
    }
  }
  return cells;
}

/** A cell's training config: the shared options, the net's own, the seeds and the subset size. */
function cellConfig(g: GridSpec, net: NetSpec, seed: number, splitSeed: number, perClass: number | null): CellSpec['config'] {
  return {
    ...g.train,
    model: net.model,
    ...(net.recipe !== undefined ? { recipe: net.recipe } : {}),
    ...(net.epochs !== undefined ? { epochs: net.epochs } : {}),
    ...(net.crop !== undefined ? { crop: net.crop } : {}),
    data: g.data,
    seed,
    splitSeed,
    ...(perClass !== null ? { perClass } : {}),
  };
}

/** The search grid, learning rate outer and batch inner (the study's order); one net, seed and split. */
function expandSearch(g: GridSpec): CellSpec[] {
  const lrs = g.lrs ?? [];
  const batches = g.batches ?? [];
  if (lrs.length === 0 || new Set(lrs).size !== lrs.length) throw optionError('--lrs', 'at least one learning rate, without repeats', lrs.join(','));
  if (batches.length === 0 || new Set(batches).size !== batches.length) throw optionError('--batches', 'at least one batch size, without repeats', batches.join(','));
  if (g.nets.length !== 1 || g.seeds.length !== 1 || g.splitSeeds.length !== 1) throw optionError('--model', 'one net, one seed and one split seed in a search', `${g.nets.length} nets, ${g.seeds.length} seeds, ${g.splitSeeds.length} split seeds`);
  const net = g.nets[0]!;
  const seed = g.seeds[0]!;
  const splitSeed = g.splitSeeds[0]!;
  const perClass = g.perClass?.[0] ?? null;
  const cells: CellSpec[] = [];
  for (const lr of lrs) {
    for (const batch of batches) {
      cells.push({
        id: searchCellId(lr, batch),
        net: net.name,
        seed,
        splitSeed,
        perClass,
        config: { ...cellConfig(g, net, seed, splitSeed, perClass), lr, batch },
        evaluate: false,
      });
    }
  }
  return cells;
}

/** The nets of `compare`: the single net and the siamese net with each recipe asked for (default: its default recipe only). */
export function compareNets(recipes: readonly string[] | undefined, epochs: { single?: number | undefined; siamese?: number | undefined }): NetSpec[] {
  const single: NetSpec = { name: 'single', model: 'single', ...(epochs.single !== undefined ? { epochs: epochs.single } : {}) };
  const list = recipes && recipes.length > 0 ? recipes : ['contrastive'];
  const siamese = list.map((r): NetSpec => ({ name: r === 'contrastive' ? 'siamese' : `siamese-${r}`, model: 'siamese', recipe: r, ...(epochs.siamese !== undefined ? { epochs: epochs.siamese } : {}) }));
  return [single, ...siamese];
}
