// The store's reads of the kinds added after the core ones (images, releases, secrets, events ...), by id and by name.
import { EventEmitter } from 'node:events';
import type { NetworkRecord } from '../../shared/network.js';
import type { StackRecord } from '../../shared/stack.js';
import type { ImageRecord } from '../../shared/images/cluster-image.js';
import type { ReleaseRecord } from '../../shared/ota/release-record.js';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { ConfigRecord, SecretRecord } from './commands.js';
import type { KindName, RecordOf } from './kinds.js';
import type { Table } from './table.js';

export type Tables = { [K in KindName]: Table<RecordOf<K>> };

/** Reads over the tables the Store fills; the Store assigns them in its constructor. */
export abstract class StoreReads extends EventEmitter {
  protected tables!: Tables;

  image(id: string): ImageRecord | undefined {
    return this.tables.images.get(id);
  }
  images(): Iterable<ImageRecord> {
    return this.tables.images.values();
  }
  releases(): Iterable<ReleaseRecord> {
    return this.tables.releases.values();
  }
  upgrades(): Iterable<RolloutRecord> {
    return this.tables.upgrades.values();
  }
  dashboardToken(id: string): RecordOf<'dashboardTokens'> | undefined {
    return this.tables.dashboardTokens.get(id);
  }
  dashboardTokens(): Iterable<RecordOf<'dashboardTokens'>> {
    return this.tables.dashboardTokens.values();
  }
  events(): Iterable<RecordOf<'events'>> {
    return this.tables.events.values();
  }
  event(id: string): RecordOf<'events'> | undefined {
    return this.tables.events.get(id);
  }
  secret(id: string): SecretRecord | undefined {
    return this.tables.secrets.get(id);
  }
  secretByName(name: string): SecretRecord | undefined {
    for (const s of this.tables.secrets.values()) if (s.name === name) return s;
    return undefined;
  }
  secrets(): Iterable<SecretRecord> {
    return this.tables.secrets.values();
  }
  config(id: string): ConfigRecord | undefined {
    return this.tables.configs.get(id);
  }
  configByName(name: string): ConfigRecord | undefined {
    for (const c of this.tables.configs.values()) if (c.name === name) return c;
    return undefined;
  }
  configs(): Iterable<ConfigRecord> {
    return this.tables.configs.values();
  }
  networkByName(name: string): NetworkRecord | undefined {
    for (const n of this.tables.networks.values()) if (n.name === name) return n;
    return undefined;
  }
  networks(): Iterable<NetworkRecord> {
    return this.tables.networks.values();
  }
  stackByName(name: string): StackRecord | undefined {
    for (const s of this.tables.stacks.values()) if (s.name === name) return s;
    return undefined;
  }
  stacks(): Iterable<StackRecord> {
    return this.tables.stacks.values();
  }
}
