// The stack and network methods of the API.
import { FleetError } from '../../shared/errors.js';
import type { Handler } from './context.js';

type StackMethod =
  | 'stack.deploy'
  | 'stack.ls'
  | 'stack.inspect'
  | 'stack.services'
  | 'stack.ps'
  | 'stack.rm'
  | 'network.create'
  | 'network.ls'
  | 'network.inspect'
  | 'network.rm';

const pending = (): never => {
  throw new FleetError('unavailable', 'stacks are not served by this manager yet');
};

export const stackHandlers: { [M in StackMethod]: Handler<M> } = {
  'stack.deploy': pending,
  'stack.ls': pending,
  'stack.inspect': pending,
  'stack.services': pending,
  'stack.ps': pending,
  'stack.rm': pending,
  'network.create': pending,
  'network.ls': pending,
  'network.inspect': pending,
  'network.rm': pending,
};
