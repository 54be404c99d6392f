import type * as Commander from 'commander';
import { requireCjs } from '../cjs.js';

// commander by `require` (lib/cjs.ts says why); the CLI's files import it from here.
const commander = requireCjs('commander') as typeof Commander;
export const { Command, CommanderError, InvalidArgumentError, Option } = commander;
export type Command = Commander.Command;
export type CommanderError = Commander.CommanderError;
export type InvalidArgumentError = Commander.InvalidArgumentError;
export type Option = Commander.Option;
