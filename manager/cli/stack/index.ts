// `fleet stack`: deploy Compose files as stacks, list them, their services and tasks, and remove them.
import { commandGroup, listed } from '../command.js';
import { config } from './config.js';
import { deploy } from './deploy.js';
import { ls, ps, services } from './lists.js';
import { rm } from './rm.js';

export const stackCommand = commandGroup(
  'stack',
  'Manage stacks (applications from Compose files)',
  [listed(deploy), listed(ls), listed(services), listed(ps), listed(config), listed(rm)],
);
