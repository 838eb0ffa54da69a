// `fleet service ls`: one line per service, or JSON.
import { serviceListing } from '../format/service-listing.js';
import { listCommand } from '../list-command.js';

export const ls = listCommand('List services', (c) => c.call('service.ls', {}), serviceListing);
