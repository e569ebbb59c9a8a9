import type { Command } from 'commander';
import { CovidNetError } from '../../errors.js';

// Placeholder: replaced by the module that implements `covidnet evaluate`.
export function register(program: Command): void {
  program
    .command('evaluate')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new CovidNetError('E_INTERNAL', '`covidnet evaluate` is not implemented yet');
    });
}
