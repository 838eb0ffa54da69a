// `fleet os flash FILE.img[.xz|.zst] DEVICE`: writes an image to an SD card or USB disk with progress, then verifies it.
import { systemClock, type Clock } from '../../../shared/clock.js';
import { flashImage } from '../../../firmware-images/flash.js';
import { formatBytes, formatProgress } from '../../../firmware-images/progress.js';
import { defineCommand } from '../command.js';

/** A non-terminal stderr gets a line this often; a terminal's line is redrawn at most this often. */
const LOG_EVERY_MS = 5_000;
const REDRAW_EVERY_MS = 200;

export const flashCommand = defineCommand({
  command: 'flash <image> <device>',
  describe: 'Write an image (.img, .img.xz, .img.zst) to a removable disk and verify it',
  builder: (y) =>
    y
      .positional('image', { type: 'string', demandOption: true, describe: 'the image' })
      .positional('device', {
        type: 'string',
        demandOption: true,
        describe: 'the block device (e.g. /dev/sdb), or a file',
      })
      .option('yes-i-am-sure', {
        type: 'boolean',
        default: false,
        describe: 'write to a disk that /sys does not call removable (never the root disk)',
      }),
  handler: async (argv) => {
    const progress = progressLine(systemClock, process.stderr);
    const result = await flashImage({
      image: argv.image,
      target: argv.device,
      yesIAmSure: argv['yes-i-am-sure'],
      onProgress: progress.update,
      // Tests set this so that nothing they run can write to a block device.
      filesOnly: process.env.FLEET_OS_FLASH_FILES_ONLY === '1',
    });
    progress.done();
    process.stdout.write(
      `Wrote ${formatBytes(result.bytes)} to ${argv.device} and verified it (sha256 ${result.sha256})\n`,
    );
  },
});

/** The progress line: redrawn in place on a terminal, an occasional line otherwise. */
function progressLine(clock: Clock, out: NodeJS.WriteStream) {
  const started = clock.now();
  const tty = out.isTTY === true;
  // A log gets its first line after LOG_EVERY_MS: a quick flash needs none.
  let last = tty ? -Infinity : started;
  let shown = '';
  return {
    update: (phase: 'write' | 'verify', bytes: number, total: number | null): void => {
      const now = clock.now();
      if (now - last < (tty ? REDRAW_EVERY_MS : LOG_EVERY_MS)) return;
      last = now;
      shown = formatProgress(
        phase === 'write' ? 'written' : 'verified',
        bytes,
        total,
        now - started,
      );
      out.write(tty ? `\r\x1b[K${shown}` : `${shown}\n`);
    },
    done: (): void => {
      if (tty && shown !== '') out.write('\r\x1b[K');
    },
  };
}
