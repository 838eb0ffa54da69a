// Benchmark: one big image to N boards on one site through a limited uplink, fleet (manager + neighbours) vs a registry.
import { existsSync } from 'node:fs';
import os from 'node:os';
import Docker from 'dockerode';
import { parseBandwidth } from '../../shared/images/bandwidth.js';
import { engineDocker, removeAllContainers, startEngine, type Engine } from '../helpers/engines.js';
import { buildImageWithLayer, removeLaptopImage } from '../helpers/pushed-image.js';
import { REGISTRY_BIN } from '../helpers/registry.js';
import { fleetRun, type FleetOutcome } from './image-dist-fleet.js';
import { registryRun, type RegistryOutcome } from './image-dist-registry.js';
import { dockerAnswers, goalLine, mb, onInterrupt, printTable, run } from './lib.js';

const IMAGE_MIB = Number(process.env.FLEET_BENCH_IMAGE_MIB ?? 100);
const NODES = Number(process.env.FLEET_BENCH_NODES ?? 10);
const LIMIT = process.env.FLEET_BENCH_LIMIT ?? '20M';
const GOAL_BYTES = 1.5;
const GOAL_TIME = 0.5;
/** The registry and its proxy listen here; agents take 127.0.30.1, .2, ... */
const REGISTRY_HOST = '127.0.39.1';

const fmt = (s: number | null, digits = 1): string => (s === null ? 'n/a' : s.toFixed(digits));
const secs = (t0: number): number => (performance.now() - t0) / 1000;

/** Removes every container and image of the engine, so the next run starts from nothing. */
async function wipe(e: Engine): Promise<void> {
  await removeAllContainers(e);
  const docker = engineDocker(e);
  for (const img of await docker.listImages())
    await docker
      .getImage(img.Id)
      .remove({ force: true })
      .catch(() => undefined);
  const left = await docker.listImages();
  if (left.length > 0) throw new Error(`engine ${e.name} still holds ${left.length} image(s)`);
}

function printFleetNodes(f: FleetOutcome): void {
  const rows = [['node', 'state', 'from manager MiB', 'from peers MiB']];
  for (const n of f.nodes) rows.push([n.node, n.state, mb(n.fromManager), mb(n.fromPeers)]);
  printTable(rows, 'llrr');
}

function printResults(
  f: FleetOutcome,
  r: RegistryOutcome,
  imageBytes: number,
  limitBytes: number,
): void {
  const ratio = (b: number): string => (imageBytes > 0 ? `${(b / imageBytes).toFixed(2)}x` : 'n/a');
  const rate = (b: number, s: number | null): string => (s ? mb(b / s) : 'n/a');
  console.log('');
  printTable(
    [
      ['run', 'total s', 'through uplink MiB', 'x image', 'MiB/s', 'how'],
      [
        'fleet',
        fmt(f.seconds),
        mb(f.fromManager),
        ratio(f.fromManager),
        rate(f.fromManager, f.seconds),
        `${f.note}; all bytes on every node after ${fmt(f.fetchedSeconds)} s, all loaded after ${fmt(f.loadedSeconds)} s; ${mb(f.fromPeers)} MiB from neighbours`,
      ],
      ['registry', fmt(r.seconds), mb(r.bytes), ratio(r.bytes), rate(r.bytes, r.seconds), r.note],
    ],
    'lrrrrl',
  );
  const one = imageBytes / limitBytes;
  console.log(
    `through the limit, one copy of the image takes ${fmt(one)} s and ${NODES} copies ${fmt(one * NODES)} s`,
  );
  const wrote = f.managerWrote === null ? 'n/a' : `${mb(f.managerWrote)} MiB`;
  console.log(
    `cross-check: the manager process wrote ${wrote} (all sockets and files, TLS included) during the fleet run`,
  );
  console.log(
    `pushes (not timed): fleet image push ${fmt(f.pushSeconds)} s, docker push ${fmt(r.pushSeconds)} s`,
  );
  console.log(`registry pulls (s): ${r.pulls.map((p) => fmt(p)).join(' ')}`);
  const byteRatio = imageBytes > 0 && f.seconds !== null ? f.fromManager / imageBytes : null;
  const timeRatio = f.seconds !== null && r.seconds ? f.seconds / r.seconds : null;
  console.log(
    `bytes through the manager / image size = ${fmt(byteRatio, 2)} (goal <= ${GOAL_BYTES})`,
  );
  console.log(`fleet time / registry time = ${fmt(timeRatio, 2)} (goal <= ${GOAL_TIME})`);
  goalLine(
    `bytes through the manager <= ${GOAL_BYTES}x the image for ${NODES} nodes on one site`,
    byteRatio === null ? false : byteRatio <= GOAL_BYTES,
  );
  goalLine(
    `fleet time <= ${GOAL_TIME}x every node pulling from one registry behind the same limit`,
    timeRatio === null ? false : timeRatio <= GOAL_TIME,
  );
}

async function main(): Promise<void> {
  const limitBytes = parseBandwidth(LIMIT);
  if (limitBytes === null || limitBytes <= 0)
    throw new Error(`FLEET_BENCH_LIMIT "${LIMIT}" is not a rate such as 20M`);
  console.log(
    `image-dist: a ${IMAGE_MIB} MiB image to ${NODES} nodes, each with its own Docker engine, uplink limit ${LIMIT} (${mb(limitBytes)} MiB/s)`,
  );
  const missing = !(await dockerAnswers())
    ? 'Docker engine not reachable'
    : process.getuid?.() !== 0
      ? 'extra Docker engines need root'
      : !existsSync(REGISTRY_BIN)
        ? `${REGISTRY_BIN} not found (apt-get install docker-registry)`
        : null;
  if (missing) {
    console.log(missing);
    goalLine(`bytes through the manager <= ${GOAL_BYTES}x the image`, null);
    goalLine(`fleet time <= ${GOAL_TIME}x registry time`, null);
    process.exitCode = 1;
    return;
  }
  // Generous: three times what every node pulling in full through the limit would take.
  const timeoutMs = Math.max(
    180_000,
    ((3 * NODES * IMAGE_MIB * 1024 * 1024) / limitBytes) * 1000 + 60_000,
  );
  const engines: Engine[] = [];
  let imageName: string | null = null;
  const cleanup = async (): Promise<void> => {
    await Promise.all(engines.map((e) => e.stop().catch(() => undefined)));
    if (imageName) await removeLaptopImage(imageName);
  };
  const forget = onInterrupt(cleanup);
  try {
    const b0 = performance.now();
    const image = await buildImageWithLayer({
      bigMiB: IMAGE_MIB,
      repo: 'flbench/image-dist',
      onNamed: (n) => (imageName = n),
    });
    console.log(`built ${image.name} in ${fmt(secs(b0))} s`);
    const e0 = performance.now();
    for (let i = 1; i <= NODES; i++) engines.push(await startEngine(`flbench${i}`));
    const load = os.loadavg()[0] ?? 0;
    console.log(
      `started ${NODES} engines in ${fmt(secs(e0))} s (load average ${load.toFixed(2)} on ${os.cpus().length} cores)`,
    );

    const solo = await soloLoadSeconds(engines[0], image.name);
    console.log(
      `one docker load of the image into one idle engine: ${fmt(solo)} s (x ${NODES} nodes on these ${os.cpus().length} cores)`,
    );
    if (engines[0]) await wipe(engines[0]);

    const fleet = await fleetRun(engines, { image: image.name, limit: LIMIT, timeoutMs });
    console.log(`fleet: ${fmt(fleet.seconds)} s to ${NODES} running tasks`);
    printFleetNodes(fleet);
    await Promise.all(engines.map(wipe));
    const registry = await registryRun(engines, {
      image: image.name,
      limitBytes,
      timeoutMs,
      host: REGISTRY_HOST,
    });
    console.log(`registry: ${fmt(registry.seconds)} s to ${NODES} pulled images`);
    const imageBytes = fleet.imageBytes > 0 ? fleet.imageBytes : await localSize(image.name);
    console.log(`image size: ${mb(imageBytes)} MiB (every blob, as the manager stores it)`);
    printResults(fleet, registry, imageBytes, limitBytes);
  } finally {
    await cleanup();
    forget();
  }
}

/** docker save from the laptop's engine into one engine's docker load, timed: what each board pays after its download. */
async function soloLoadSeconds(e: Engine | undefined, image: string): Promise<number | null> {
  if (!e) return null;
  const from = new Docker();
  const to = engineDocker(e);
  const t0 = performance.now();
  const stream = await from.getImage(image).get();
  const res = await to.loadImage(stream);
  await new Promise<void>((resolve, reject) => {
    to.modem.followProgress(res, (err) => (err ? reject(err) : resolve()));
  });
  return secs(t0);
}

/** The image's size on the main engine, when the fleet run could not tell. */
async function localSize(image: string): Promise<number> {
  const r = await run('docker', ['image', 'inspect', '--format', '{{.Size}}', image]);
  return Number(r.stdout.trim()) || 0;
}

main().catch((e: unknown) => {
  console.error(`image-dist: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
