import type { Command } from 'commander';
import { CovidNetError } from '../../errors.js';

// Placeholder: replaced by the module that implements `covidnet data`.
export function register(program: Command): void {
  program
    .command('data')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new CovidNetError('E_INTERNAL', '`covidnet data` is not implemented yet');
    });
}
