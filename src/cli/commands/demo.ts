import type { Command } from 'commander';
import { CovidNetError } from '../../errors.js';

// Placeholder: replaced by the module that implements `covidnet demo`.
export function register(program: Command): void {
  program
    .command('demo')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new CovidNetError('E_INTERNAL', '`covidnet demo` is not implemented yet');
    });
}
