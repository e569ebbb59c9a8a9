/**
 * CLI options derived from the run options' one declaration (RUN_OPTIONS in src/config.ts): the
 * flag, the placeholder, the help text with its default, and a strict parser for numbers. Commands
 * add them by key, so help texts and parsing agree everywhere:
 *   addRunOptions(cmd, ['size', 'width']).addOption(backendOption())
 */
import { Option, type Command } from 'commander';
import { checkOptionValue, describeSchema, flagOf, numberOption, RUN_OPTIONS, type RunConfigInput, type RunOptionKey } from '../config.js';

/** What commander hands an action for the run options it declared (plus the command's own). */
export type RunCliValues = Partial<RunConfigInput>;

/** How one command shows an option differently from the declaration (its help, or a default of its own). */
export interface OptionOverride {
  /** This command's spelling of the flag (e.g. `--batch` for the inference batch); default from the key. */
  flag?: string;
  help?: string;
  /** A command-specific default (shown in help and applied by commander). */
  default?: string | number;
  /** The declaration's default does not apply on this command (it is not shown in help). */
  noDefault?: boolean;
}

/** The commander option of a run option. */
export function runOption(key: RunOptionKey, override: OptionOverride = {}): Option {
  const { meta, schema } = RUN_OPTIONS[key];
  if (meta.arg === false) throw new Error(`run option ${key} is not a CLI flag`);
  const flag = override.flag ?? flagOf(key);
  const d = describeSchema(schema);
  const shownDefault = override.noDefault ? undefined : (override.default ?? d.default);
  const help = override.help ?? meta.help;
  const opt = new Option(`${flag} ${meta.arg}`, shownDefault !== undefined && override.default === undefined ? `${help} (default ${String(shownDefault)})` : help);
  // the declaration's limits apply at parse time, with the same message on every command
  const num = d.kind === 'text' ? undefined : numberOption(flag, d.kind);
  opt.argParser((v: string) => checkOptionValue(key, num ? num(v) : v, flag));
  if (override.default !== undefined) opt.default(override.default);
  return opt;
}

/** Add run options by key; `overrides` changes how this command shows some of them. */
export function addRunOptions(cmd: Command, keys: readonly RunOptionKey[], overrides: Partial<Record<RunOptionKey, OptionOverride>> = {}): Command {
  for (const k of keys) cmd.addOption(runOption(k, overrides[k]));
  return cmd;
}

/** The options of every command that runs a network. */
export function backendOption(): Option {
  return runOption('backend');
}

export function threadsOption(help?: string): Option {
  return runOption('threads', help === undefined ? {} : { help });
}

export function cacheDirOption(): Option {
  return runOption('cacheDir');
}

/** `--batch` of the inference commands: the run option `evalBatch` (same limits), spelled as those commands do. */
export function inferenceBatchOption(help = 'images per inference batch'): Option {
  return runOption('evalBatch', { flag: '--batch', help, noDefault: true });
}
