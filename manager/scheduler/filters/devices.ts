// Tasks that use devices, privileges or kernel settings go only to nodes whose agent allows them (--allow-devices).
import { deviceOptionsUsed } from '../../../shared/spec.js';
import type { Filter } from './types.js';

export const devicesFilter: Filter = {
  name: 'devices',
  check: ({ node, task }) =>
    node.allowDevices !== true && deviceOptionsUsed(task.template).length > 0
      ? 'do not allow devices'
      : null,
};
