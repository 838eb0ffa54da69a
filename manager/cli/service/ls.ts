// `fleet service ls`: one line per service, or JSON.
import { printServices } from '../format.js';
import { listCommand } from '../list-command.js';

export const ls = listCommand('List services', (c) => c.call('service.ls', {}), printServices);
