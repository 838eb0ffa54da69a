// `fleet service`: the group of service commands, each in its own file, in the order help lists them.
import { commandGroup, listed } from '../command.js';
import { create } from './create.js';
import { inspect } from './inspect.js';
import { ls } from './ls.js';
import { logs } from './logs.js';
import { ps } from './ps.js';
import { rm } from './rm.js';
import { scale } from './scale.js';
import { update } from './update.js';
import { promote, rollback } from './update-actions.js';

export const serviceCommand = commandGroup('service', 'Manage services', [
  listed(create),
  listed(ls),
  listed(ps),
  listed(inspect),
  listed(logs),
  listed(scale),
  listed(update),
  listed(rollback),
  listed(promote),
  listed(rm),
]);
