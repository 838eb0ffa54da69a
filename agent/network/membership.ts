// Which of this node's networks a DNS client's container is on, so a task on several networks resolves the names of all of them.
import type Docker from 'dockerode';
import type { Clock } from '../../shared/clock.js';

/** An address not seen yet sends the bridge's containers to be listed again at most this often. */
const MISS_REFRESH_MS = 1_000;
/** Listings older than this are made again even for a known address (a container may have left). */
const MAX_AGE_MS = 30_000;

interface Listing {
  at: number;
  /** A container's address on this bridge → the engine networks it is on. */
  byAddress: Map<string, string[]>;
}

/**
 * Docker's embedded DNS asks the container's first name server for every name, so the server
 * of its first network also answers for its other networks. Which networks a client is on is
 * read from the engine's container listing per bridge, kept for a while.
 */
export class NetworkMembership {
  private readonly listings = new Map<string, Listing>();
  private readonly pending = new Map<string, Promise<Listing>>();

  constructor(
    private readonly docker: Docker,
    private readonly clock: Clock,
  ) {}

  /** The engine networks of the container at `address` on `bridge` (none when unknown). */
  async networksOf(bridge: string, address: string): Promise<string[]> {
    let l = this.listings.get(bridge);
    const age = l ? this.clock.now() - l.at : Infinity;
    if (!l || age > MAX_AGE_MS || (!l.byAddress.has(address) && age > MISS_REFRESH_MS))
      l = await this.list(bridge);
    return l.byAddress.get(address) ?? [];
  }

  forget(bridge: string): void {
    this.listings.delete(bridge);
  }

  /** One listing at a time per bridge, however many queries wait for it. */
  private list(bridge: string): Promise<Listing> {
    const running = this.pending.get(bridge);
    if (running) return running;
    const p = this.docker
      .listContainers({ filters: { network: [bridge] } })
      .then((list) => {
        const byAddress = new Map<string, string[]>();
        for (const c of list) {
          const nets = c.NetworkSettings?.Networks ?? {};
          const ip = nets[bridge]?.IPAddress;
          if (ip) byAddress.set(ip, Object.keys(nets));
        }
        const l = { at: this.clock.now(), byAddress };
        this.listings.set(bridge, l);
        return l;
      })
      .finally(() => this.pending.delete(bridge));
    this.pending.set(bridge, p);
    return p;
  }
}
