// The soak's way to the chaos orders: signed with the admin identity, board faults through the leader, manager faults to the manager itself.
import type { ChaosPort } from './runner.js';
import type { RpcClient } from '../rpc-client.js';
import type { ConnectionFlags } from '../connection.js';

export async function makeChaosPort(
  _client: RpcClient,
  _argv: ConnectionFlags,
): Promise<ChaosPort> {
  throw new Error('not wired yet');
}
