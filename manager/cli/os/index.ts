// `fleet os build|configure|inspect|flash`: board images (see docs/board-images.md), named after balena-cli's `os` commands.
import { commandGroup, listed } from '../command.js';
import { buildCommand } from './build.js';
import { configureCommand } from './configure.js';
import { flashCommand } from './flash.js';
import { inspectCommand } from './inspect.js';

export const osCommand = commandGroup('os', 'Build, configure, inspect and flash board images', [
  listed(buildCommand),
  listed(configureCommand),
  listed(inspectCommand),
  listed(flashCommand),
]);
