// What the agent keeps of its networks across restarts: each service's virtual address, and the last discovery table.
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import type { Logger } from '../../shared/log.js';
import { discoveryTableSchema, type DiscoveryTable } from '../../shared/network.js';

const vipFileSchema = z.object({
  v: z.literal(1),
  /** Per cluster network, per service: the host number of its virtual address in the bridge's /24. */
  networks: z.record(z.string(), z.record(z.string(), z.number().int().min(0).max(255))),
});

/**
 * Virtual addresses outlive the agent process: a task that looked a name up before a restart
 * keeps reaching it at the address it was given. Host numbers are kept rather than addresses,
 * so a bridge made again in another /24 keeps them too.
 */
export class NetworkStateStore {
  private vips: Record<string, Record<string, number>> = {};
  private readonly vipFile: string;
  private readonly tableFile: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    dataDir: string,
    private readonly logger: Logger,
  ) {
    this.vipFile = path.join(dataDir, 'network-vips.json');
    this.tableFile = path.join(dataDir, 'discovery-table.json');
  }

  /** Reads both files; a damaged one is logged and started over, never fatal. */
  async load(): Promise<DiscoveryTable | null> {
    const raw = await readJsonFile(this.vipFile).catch(() => undefined);
    const v = vipFileSchema.safeParse(raw);
    if (v.success) this.vips = v.data.networks;
    else if (raw !== undefined) this.logger.warn('ignored a damaged file', { file: this.vipFile });
    const t = discoveryTableSchema.safeParse(await readJsonFile(this.tableFile).catch(() => null));
    return t.success ? t.data : null;
  }

  vipsOf(network: string): Record<string, number> {
    return { ...this.vips[network] };
  }

  /** Records a network's addresses (written only when they changed). */
  async setVips(network: string, vips: Record<string, number>): Promise<void> {
    const cur = this.vips[network] ?? {};
    if (sameRecord(cur, vips)) return;
    if (Object.keys(vips).length === 0) delete this.vips[network];
    else this.vips[network] = { ...vips };
    const text = JSON.stringify({ v: 1, networks: this.vips }) + '\n';
    await this.write(this.vipFile, text);
  }

  async saveTable(table: DiscoveryTable): Promise<void> {
    await this.write(this.tableFile, JSON.stringify(table) + '\n');
  }

  /** Writes one after the other, so an older content never lands after a newer one. */
  private write(file: string, text: string): Promise<void> {
    this.writing = this.writing
      .then(() => writeFileAtomic(file, text))
      .catch((e: unknown) => {
        this.logger.warn('could not save network state', { file, error: String(e) });
      });
    return this.writing;
  }
}

function sameRecord(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
