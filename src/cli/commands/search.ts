import type { Command } from 'commander';
import { CovidNetError } from '../../errors.js';

// Placeholder: replaced by the module that implements `covidnet search`.
export function register(program: Command): void {
  program
    .command('search')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new CovidNetError('E_INTERNAL', '`covidnet search` is not implemented yet');
    });
}
