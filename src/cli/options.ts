/**
 * Options shared by the commands that run a network, defined once so help texts and parsing agree
 * everywhere: `cmd.addOption(backendOption()).addOption(threadsOption())`.
 */
import { Option } from 'commander';
import { numberOption } from '../config.js';

export function backendOption(): Option {
  return new Option('--backend <name>', 'onednn, wasm or cpu (default: the fastest available)');
}

export function threadsOption(help = 'threads for native kernels (default: COVIDNET_THREADS or all cores)'): Option {
  return new Option('--threads <n>', help).argParser(numberOption('--threads', 'int'));
}

export function cacheDirOption(): Option {
  return new Option('--cache-dir <dir>', 'cache of preprocessed images (default: COVIDNET_CACHE or ~/.cache/covidnet)');
}
