/**
 * `covidnet` command line: a thin layer over the library. Each command lives in its own module
 * under ./commands and registers itself on the program; heavy modules (TensorFlow.js, sharp)
 * are imported inside the actions so `covidnet --help` stays fast.
 */
import { Command, CommanderError } from 'commander';
import { isCovidNetError } from '../errors.js';
import { commands } from './commands/index.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('covidnet')
    .description('COVID-Net and siamese COVID-Net for chest X-rays: data, training, evaluation, Grad-CAM, reports.\nResearch tool, not a medical device: do not use for diagnosis.')
    .exitOverride()
    // commander's own errors (unknown option, missing argument) get the one-line coded form too
    .configureOutput({ outputError: (msg, write) => write(`covidnet: error [E_OPTION]: ${msg.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`) });
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit with code 0 through here
      return e.exitCode;
    }
    if (isCovidNetError(e)) {
      process.stderr.write(`covidnet: error [${e.code}]: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`covidnet: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 3;
  }
}
