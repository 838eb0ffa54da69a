// The soak's way to the fault orders: signed with the admin identity, board faults through the leader, manager faults to the manager itself.
import { systemClock } from '../../../shared/clock.js';
import { sendChaos } from '../chaos-client.js';
import { loadIdentity, resolvedConnection, type ConnectionFlags } from '../connection.js';
import { connectClient, type RpcClient } from '../rpc-client.js';
import type { ChaosPort } from './runner.js';

/** A manager's answer to a stats order or a fault waits this long for the board behind it. */
const ANSWER_MS = 4_000;

export async function makeChaosPort(client: RpcClient, argv: ConnectionFlags): Promise<ChaosPort> {
  const resolved = await resolvedConnection(argv);
  const admin = await loadIdentity(resolved.identity);
  const insecure = resolved.insecure === true || argv.insecure === true;
  const clients = new Map<string, Promise<RpcClient>>();
  /** Kept open between calls; a failed call drops it, so a restarted manager is dialled again. */
  const pinned = async <T>(address: string, fn: (c: RpcClient) => Promise<T>): Promise<T> => {
    let c = clients.get(address);
    if (!c) {
      c = connectClient({
        hosts: [address],
        identity: admin,
        insecure,
        pinned: true,
        stale: true,
        timeoutMs: 5_000,
        // A manager cut off answers from its own copy: that is what the comparison wants.
        onWarning: () => undefined,
      });
      clients.set(address, c);
    }
    try {
      return await fn(await c);
    } catch (e) {
      clients.delete(address);
      void c.then((x) => x.close()).catch(() => undefined);
      throw e;
    }
  };
  return {
    send(node, fault, durationMs, params) {
      const send = (c: RpcClient) =>
        sendChaos(c, admin, node.id, fault, durationMs, params, systemClock, ANSWER_MS);
      if (node.role === 'manager' && node.managerAddress) return pinned(node.managerAddress, send);
      return send(client);
    },
    read: (address, fn) => pinned(address, fn),
    async close() {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map((c) => c.then((x) => x.close()).catch(() => undefined)));
    },
  };
}
