import type { Command } from 'commander';
import { register as synth } from './synth.js';
import { register as preprocess } from './preprocess.js';
import { register as data } from './data.js';
import { register as bench } from './bench.js';
import { register as train } from './train.js';
import { register as evaluate } from './evaluate.js';
import { register as predict } from './predict.js';
import { register as search } from './search.js';
import { register as explain } from './explain.js';
import { register as experiment } from './experiment.js';
import { register as report } from './report.js';
import { register as demo } from './demo.js';
import { register as diagnose } from './diagnose.js';
import { register as serve } from './serve.js';
import { register as ood } from './ood.js';
import { register as audit } from './audit.js';
import { register as exportCmd } from './export.js';
import { register as worker } from './worker.js';
import { register as templates } from './templates.js';

/** Every command, in the order `covidnet --help` lists them. */
export const commands: ((program: Command) => void)[] = [
  demo, synth, preprocess, data, train, templates, evaluate, audit, predict, explain, serve, exportCmd, ood, search, experiment, worker, report, bench, diagnose,
];
