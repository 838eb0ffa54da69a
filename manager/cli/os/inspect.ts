// `fleet os inspect FILE.img`: an image's partition table, its boot partition's files, its preloaded images and its fleet.json (token redacted).
import {
  BOARD_SETTINGS_FILE,
  parseBoardSettings,
  redactBoardSettings,
} from '../../../shared/board-settings.js';
import { listBootFiles, readBootFile } from '../../../firmware-images/boot-partition.js';
import { errorMessage } from '../../../shared/errors.js';
import { SECTOR } from '../../../firmware-images/layout.js';
import { readPartitionTable, typeName } from '../../../firmware-images/mbr.js';
import { formatBytes } from '../../../firmware-images/progress.js';
import { PRELOAD_DIR, PRELOAD_INDEX, parsePreloadIndex } from '../../../shared/preload-index.js';
import { defineCommand } from '../command.js';

export const inspectCommand = defineCommand({
  command: 'inspect <image>',
  describe: "Show an image's partitions, boot files and join settings (token hidden)",
  builder: (y) =>
    y.positional('image', { type: 'string', demandOption: true, describe: 'the disk image' }),
  handler: async (argv) => {
    const table = await readPartitionTable(argv.image);
    const lines = [`Partitions of ${argv.image} (MBR):`];
    lines.push('  #  BOOT  START      SECTORS    SIZE        TYPE');
    for (const p of table) {
      lines.push(
        `  ${p.index}  ${p.bootable ? '*' : ' '}     ${String(p.start).padEnd(10)} ` +
          `${String(p.sectors).padEnd(10)} ${formatBytes(p.sectors * SECTOR).padEnd(11)} ${typeName(p.type)}`,
      );
    }
    const files = await listBootFiles(argv.image);
    lines.push('', 'Boot partition files:', ...files.map((f) => `  ${f}`), '');
    lines.push(...(await preloaded(argv.image)));
    const text = await readBootFile(argv.image, BOARD_SETTINGS_FILE);
    if (text === null)
      lines.push(`${BOARD_SETTINGS_FILE}: none (configure with: fleet os configure)`);
    else {
      const shown = JSON.stringify(redactBoardSettings(parseBoardSettings(text)), null, 2);
      lines.push(`${BOARD_SETTINGS_FILE} (secrets redacted):`, shown);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  },
});

/** The preloaded images index.json lists, one line each, and an empty line; nothing without one. */
async function preloaded(image: string): Promise<string[]> {
  const text = await readBootFile(image, `${PRELOAD_DIR}/${PRELOAD_INDEX}`);
  if (text === null) return [];
  try {
    const { images } = parsePreloadIndex(text);
    return [
      'Preloaded images:',
      ...images.map(
        (e) =>
          `  ${e.ref}  ${formatBytes(e.size)}  ${e.arch ?? ''}  sha256:${e.sha256.slice(0, 12)}`,
      ),
      '',
    ];
  } catch (e) {
    return [
      `Preloaded images: ${PRELOAD_DIR}/${PRELOAD_INDEX} is damaged (${errorMessage(e)})`,
      '',
    ];
  }
}
