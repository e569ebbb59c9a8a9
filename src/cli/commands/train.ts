import type { Command } from 'commander';
import { CovidNetError } from '../../errors.js';

// Placeholder: replaced by the module that implements `covidnet train`.
export function register(program: Command): void {
  program
    .command('train')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new CovidNetError('E_INTERNAL', '`covidnet train` is not implemented yet');
    });
}
