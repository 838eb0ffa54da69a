// `fleet os build --board BOARD --out FILE.img`: builds a flashable board image from Debian packages and the bundled agent.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatBoardSettings } from '../../../shared/board-settings.js';
import { systemClock } from '../../../shared/clock.js';
import { loadBoard } from '../../../firmware-images/board.js';
import { buildImage } from '../../../firmware-images/build.js';
import type { SavedImages } from '../../../firmware-images/preload.js';
import { DEFAULT_MIRROR } from '../../../firmware-images/rootfs.js';
import { formatBytes } from '../../../firmware-images/progress.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../usage.js';
import { BOARD_SETTING_OPTIONS, joinSettings } from './configure.js';
import { PRELOAD_OPTION, withSavedImages } from './preload.js';

/** The repository root, from dist/manager/cli/os/ or from the source tree. */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export const buildCommand = defineCommand({
  command: 'build',
  describe: 'Build a flashable board image (Debian arm64, Node.js, the agent)',
  builder: (y) =>
    y
      .option('board', { type: 'string', demandOption: true, describe: 'board profile, e.g. rpi4' })
      .option('out', { type: 'string', demandOption: true, describe: 'the image file to write' })
      .option('runtime', {
        choices: ['docker', 'process'] as const,
        default: 'docker' as const,
        describe: 'how tasks run on the board; process leaves Docker out of the image',
      })
      .option('cache-dir', {
        type: 'string',
        describe: 'where root file systems and Node.js are cached (default ~/.cache/fleet/os)',
      })
      .option('mirror', { type: 'string', default: DEFAULT_MIRROR, describe: 'Debian mirror' })
      .option('agent', {
        type: 'string',
        describe: 'the bundled agent (default dist/fleet-agent.mjs, bundled when missing)',
      })
      .option('manager', {
        type: 'string',
        array: true,
        nargs: 1,
        describe: 'manager address HOST:PORT, written to fleet.json (with --token)',
      })
      .option('token', { type: 'string', describe: 'worker join token (with --manager)' })
      .options(BOARD_SETTING_OPTIONS)
      .options(PRELOAD_OPTION)
      .option('boot-size', {
        type: 'number',
        describe:
          "the smallest boot partition in MiB (default: the board's, or what the files need)",
      })
      .example(
        '$0 os build --board rpi4 --out pi.img --manager 10.0.0.2:8883 --token FLEET-1-…',
        'a Raspberry Pi 4 image that joins that manager',
      ),
  handler: async (argv) => {
    const profile = await loadBoard(argv.board).catch((e: Error) => {
      throw new UsageError(e.message);
    });
    const bootSize = argv['boot-size'];
    if (bootSize !== undefined && !(Number.isInteger(bootSize) && bootSize > 0)) {
      throw new UsageError('--boot-size is a whole number of MiB');
    }
    const board = {
      ...profile,
      bootPartitionMiB: Math.max(profile.bootPartitionMiB, bootSize ?? 0),
    };
    if (!board.supported) {
      throw new UsageError(`board ${board.name} cannot be built: ${board.note ?? 'unsupported'}`);
    }
    const settings = await joinSettings(argv);
    const log = (line: string): boolean => process.stderr.write(`${line}\n`);
    const build = (preload?: SavedImages) =>
      buildImage({
        board,
        runtime: argv.runtime,
        mirror: argv.mirror,
        cacheDir: argv['cache-dir'] ?? path.join(os.homedir(), '.cache', 'fleet', 'os'),
        out: argv.out,
        agentBundle: argv.agent ?? agentBundle(),
        ...(settings ? { settingsJson: formatBoardSettings(settings) } : {}),
        ...(preload ? { preload } : {}),
        clock: systemClock,
        log,
      });
    // The images are saved (and a missing one refused) before the long root file system step.
    const preload = argv.preload ?? [];
    if (preload.length > 0 && argv.runtime === 'process') {
      throw new UsageError('--preload needs --runtime docker: the process runtime runs no images');
    }
    const result =
      preload.length === 0
        ? await build()
        : await withSavedImages(preload, argv.out, { boardArch: board.arch, log }, build);
    const s = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;
    process.stdout.write(
      `Built ${result.image.path} (${formatBytes(result.image.bytes)}, board ${board.name}, ` +
        `runtime ${argv.runtime}${settings ? ', with fleet.json' : ''}` +
        `${preload.length > 0 ? `, ${preload.length} preloaded image(s)` : ''}) in ${s(result.totalMs)}: ` +
        `root file system ${result.rootfsCached ? 'cached' : s(result.rootfsMs)}, ` +
        `assembly ${s(result.assembleMs)}\n`,
    );
  },
});

/** dist/fleet-agent.mjs, bundled first when it is not there. */
function agentBundle(): string {
  const file = path.join(REPO, 'dist', 'fleet-agent.mjs');
  if (existsSync(file)) return file;
  process.stderr.write('bundling the agent (node bin/bundle-agent.js)\n');
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'bundle-agent.js')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0 || !existsSync(file)) throw new Error('bundling the agent failed');
  return file;
}
