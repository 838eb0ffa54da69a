// One network's live bridge on this node: its virtual addresses, its name server and a forwarder per service port.
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { PortForwarder } from '../ingress/forwarder.js';
import { addAddress, deleteAddress, listAddresses, type LocalBridge } from './bridge.js';
import { clientFilter } from './clients.js';
import { DnsServer } from './dns-server.js';
import { VIP_FIRST, inSubnet, type ForwardPlan } from './plan.js';

export interface ActiveNetworkOptions {
  bridge: LocalBridge;
  dnsPort: number;
  upstream: () => { nameservers: string[]; search: string[] };
  /** The names of the client's other networks on this node (see membership.ts). */
  moreNames: (client: string) => Promise<ReadonlyMap<string, string>>;
  logger: Logger;
  clock: Clock;
}

/**
 * Holds what serves a bridge: the addresses on its interface, the DNS listener on its gateway and
 * the forwarders. apply() brings them to a plan; it can be called again at any time.
 */
export class ActiveNetwork {
  private names: ReadonlyMap<string, string> = new Map();
  private readonly forwarders = new Map<string, PortForwarder>();
  private readonly addresses = new Set<string>();
  private dns: DnsServer | undefined;
  private readonly allow: (address: string) => boolean;

  constructor(private readonly opts: ActiveNetworkOptions) {
    this.allow = clientFilter(opts.bridge.layout, opts.clock);
  }

  get bridge(): LocalBridge {
    return this.opts.bridge;
  }

  /** The names it answers and the address of each (for tests and tooling). */
  get nameTable(): ReadonlyMap<string, string> {
    return this.names;
  }

  /**
   * Brings addresses, names and forwarders to the plan. A failure of one part (a port taken, a
   * missing `ip`) is logged and the rest still applied; the next apply tries again.
   */
  async apply(names: ReadonlyMap<string, string>, plans: readonly ForwardPlan[]): Promise<void> {
    this.names = names;
    await this.ensureDns();
    const vips = new Set([...names.values(), ...plans.map((p) => p.vip)]);
    await this.syncAddresses(vips);
    await this.syncForwarders(plans);
  }

  /** Stops the listener and forwarders and takes the addresses off the interface. */
  async close(): Promise<void> {
    const fws = [...this.forwarders.values()];
    this.forwarders.clear();
    await Promise.all(fws.map((f) => f.close()));
    await this.dns?.close();
    this.dns = undefined;
    for (const a of this.addresses) {
      await deleteAddress(a, this.opts.bridge.iface).catch(() => undefined);
    }
    this.addresses.clear();
  }

  private async ensureDns(): Promise<void> {
    if (this.dns) return;
    const dns = new DnsServer({
      host: this.opts.bridge.layout.gateway,
      port: this.opts.dnsPort,
      allowClient: this.allow,
      names: () => this.names,
      moreNames: this.opts.moreNames,
      upstream: this.opts.upstream,
      logger: this.opts.logger.child('dns'),
      clock: this.opts.clock,
    });
    try {
      await dns.start();
      this.dns = dns;
    } catch (e) {
      await dns.close();
      this.opts.logger.error('cannot answer DNS on the bridge; will retry', {
        address: `${this.opts.bridge.layout.gateway}:${this.opts.dnsPort}`,
        error: errorMessage(e),
      });
    }
  }

  private async syncAddresses(wanted: ReadonlySet<string>): Promise<void> {
    const iface = this.opts.bridge.iface;
    // After a restart the interface still holds the last run's addresses: adopt them.
    if (this.addresses.size === 0) {
      const present = await listAddresses(iface).catch(() => []);
      const high = present.filter((a) => Number(a.split('.')[3]) >= VIP_FIRST);
      for (const a of high) if (inSubnet(this.opts.bridge.layout, a)) this.addresses.add(a);
    }
    for (const a of [...this.addresses]) {
      if (wanted.has(a)) continue;
      await deleteAddress(a, iface).catch((e: unknown) => this.failed('remove address', a, e));
      this.addresses.delete(a);
    }
    for (const a of wanted) {
      if (this.addresses.has(a)) continue;
      try {
        await addAddress(a, iface);
        this.addresses.add(a);
      } catch (e) {
        this.failed('add address', a, e);
      }
    }
  }

  private async syncForwarders(plans: readonly ForwardPlan[]): Promise<void> {
    const wanted = new Map(plans.map((p) => [p.key, p]));
    for (const [key, fw] of this.forwarders) {
      if (wanted.has(key)) continue;
      this.forwarders.delete(key);
      await fw.retire();
    }
    for (const p of plans) {
      let fw = this.forwarders.get(p.key);
      if (!fw) {
        if (!this.addresses.has(p.vip)) continue;
        fw = new PortForwarder({
          bindHost: p.vip,
          port: p.port,
          protocol: p.protocol,
          allowClient: this.allow,
          logger: this.opts.logger.child(p.service),
          clock: this.opts.clock,
        });
        try {
          await fw.start();
        } catch (e) {
          this.failed('listen', p.key, e);
          continue;
        }
        this.forwarders.set(p.key, fw);
      }
      fw.setBackends(p.backends);
    }
  }

  private failed(what: string, target: string, e: unknown): void {
    this.opts.logger.error(`network: could not ${what}`, { target, error: errorMessage(e) });
  }
}
