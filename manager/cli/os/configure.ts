// `fleet os configure FILE.img`: writes the join settings (fleet.json) and preloaded container images into an image's boot partition, in place.
import { readFile } from 'node:fs/promises';
import {
  BOARD_SETTINGS_FILE,
  boardSettingsSchema,
  formatBoardSettings,
  type BoardSettings,
} from '../../../shared/board-settings.js';
import { writeBootFile } from '../../../firmware-images/boot-partition.js';
import { fatBootPartition } from '../../../firmware-images/mbr.js';
import { writePreload } from '../../../firmware-images/preload.js';
import { defineCommand } from '../command.js';
import { labelOption } from '../flags/env-labels.js';
import { UsageError } from '../usage.js';
import { PRELOAD_OPTION, withSavedImages } from './preload.js';

/** The architecture of every board image fleet makes today. */
const IMAGE_ARCH = 'arm64';

export const configureCommand = defineCommand({
  command: 'configure <image>',
  describe:
    'Write the join settings (fleet.json) and preloaded images into an image without rebuilding it',
  builder: (y) =>
    y
      .positional('image', { type: 'string', demandOption: true, describe: 'the disk image' })
      .option('manager', {
        type: 'string',
        array: true,
        nargs: 1,
        describe: 'manager address HOST:PORT; repeat or separate with commas for several',
      })
      .option('token', { type: 'string', describe: 'worker join token (with --manager)' })
      .options(BOARD_SETTING_OPTIONS)
      .options(PRELOAD_OPTION)
      .example(
        '$0 os configure pi.img --manager 10.0.0.2:8883 --token FLEET-1-… --label room=lab',
        'make every board flashed from pi.img join that manager',
      )
      .example(
        '$0 os configure pi.img --preload ghcr.io/acme/web:1.2',
        'boards flashed from pi.img start that image without a registry',
      ),
  handler: async (argv) => {
    const preload = argv.preload ?? [];
    const settings = await joinSettings(argv);
    if (settings === undefined && preload.length === 0) {
      throw new UsageError('give --manager and --token, or --preload IMAGE, or both');
    }
    if (preload.length > 0) {
      await fatBootPartition(argv.image); // a file that is no board image fails before any saving
      const log = (line: string): boolean => process.stderr.write(`${line}\n`);
      const fit = await withSavedImages(preload, argv.image, { boardArch: IMAGE_ARCH, log }, (s) =>
        writePreload(argv.image, s),
      );
      process.stdout.write(
        `Wrote ${preload.length} preloaded image${preload.length > 1 ? 's' : ''} to ${argv.image} ` +
          `(${(fit.neededBytes / 1024 / 1024).toFixed(1)} MiB of the boot partition)\n`,
      );
    }
    if (settings === undefined) return;
    await writeBootFile(argv.image, BOARD_SETTINGS_FILE, formatBoardSettings(settings));
    const labels = Object.keys(settings.labels).length;
    process.stdout.write(
      `Wrote ${BOARD_SETTINGS_FILE} to ${argv.image}: managers ${settings.managers.join(', ')}` +
        `${labels > 0 ? `, ${labels} label${labels > 1 ? 's' : ''}` : ''}` +
        `${settings.wifi ? `, Wi-Fi ${settings.wifi.ssid}` : ''}\n`,
    );
  },
});

/** The settings from --manager, --token and the other settings flags; undefined when none is given. */
export async function joinSettings(
  argv: Parameters<typeof boardSettingFlags>[0] & { manager?: string[]; token?: string },
): Promise<BoardSettings | undefined> {
  const managers = argv.manager ?? [];
  if (managers.length > 0 !== (argv.token !== undefined)) {
    throw new UsageError('--manager and --token go together');
  }
  if (argv.token !== undefined) {
    return settingsFrom({ managers, token: argv.token, ...boardSettingFlags(argv) });
  }
  const given = (['hostname', 'wifi-ssid', 'wifi-passphrase', 'ssh-key', 'timezone'] as const).find(
    (flag) => argv[flag] !== undefined,
  );
  if (Object.keys(argv.label).length > 0)
    throw new UsageError('--label needs --manager and --token');
  if (given !== undefined) throw new UsageError(`--${given} needs --manager and --token`);
  return undefined;
}

/** The settings flags `os configure` and `os build` share, besides --manager and --token. */
export const BOARD_SETTING_OPTIONS = {
  label: labelOption('node label k=v the board joins with (repeatable)'),
  hostname: {
    type: 'string',
    describe:
      "hostname pattern, {serial} and {mac} standing for the board's (default fleet-{serial})",
  },
  'wifi-ssid': { type: 'string', describe: 'Wi-Fi network to join' },
  'wifi-passphrase': { type: 'string', describe: 'Wi-Fi WPA2 pass phrase' },
  'ssh-key': { type: 'string', describe: 'file with an SSH public key for root' },
  timezone: { type: 'string', describe: 'time zone, e.g. Europe/Berlin' },
} as const;

/** Those flags as settingsFrom takes them. */
export function boardSettingFlags(argv: {
  label: Record<string, string>;
  hostname?: string | undefined;
  'wifi-ssid'?: string | undefined;
  'wifi-passphrase'?: string | undefined;
  'ssh-key'?: string | undefined;
  timezone?: string | undefined;
}): Omit<ConfigureFlags, 'managers' | 'token'> {
  return {
    labels: argv.label,
    hostname: argv.hostname,
    wifiSsid: argv['wifi-ssid'],
    wifiPassphrase: argv['wifi-passphrase'],
    sshKey: argv['ssh-key'],
    timezone: argv.timezone,
  };
}

interface ConfigureFlags {
  managers: readonly string[];
  token: string;
  labels: Record<string, string>;
  hostname?: string | undefined;
  wifiSsid?: string | undefined;
  wifiPassphrase?: string | undefined;
  sshKey?: string | undefined;
  timezone?: string | undefined;
}

/** The flags as validated settings; a mistake names the flag. */
export async function settingsFrom(f: ConfigureFlags): Promise<BoardSettings> {
  if ((f.wifiSsid === undefined) !== (f.wifiPassphrase === undefined)) {
    throw new UsageError('--wifi-ssid and --wifi-passphrase go together');
  }
  const sshKey =
    f.sshKey === undefined
      ? undefined
      : (
          await readFile(f.sshKey, 'utf8').catch(() => {
            throw new UsageError(`--ssh-key: cannot read ${f.sshKey}`);
          })
        ).trim();
  const raw = {
    version: 1,
    managers: f.managers
      .flatMap((m) => m.split(','))
      .map((m) => m.trim())
      .filter(Boolean),
    token: f.token,
    labels: f.labels,
    ...(f.hostname !== undefined ? { hostname: f.hostname } : {}),
    ...(f.wifiSsid !== undefined
      ? { wifi: { ssid: f.wifiSsid, passphrase: f.wifiPassphrase } }
      : {}),
    ...(sshKey !== undefined ? { sshAuthorizedKey: sshKey } : {}),
    ...(f.timezone !== undefined ? { timezone: f.timezone } : {}),
  };
  const r = boardSettingsSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new UsageError(`${flagOf(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
}

/** The flag behind a settings key, for the error message. */
function flagOf(p: readonly PropertyKey[]): string {
  const flags: Record<string, string> = {
    managers: '--manager',
    token: '--token',
    labels: '--label',
    hostname: '--hostname',
    sshAuthorizedKey: '--ssh-key',
    timezone: '--timezone',
  };
  if (p[0] === 'wifi') return p[1] === 'ssid' ? '--wifi-ssid' : '--wifi-passphrase';
  return flags[String(p[0])] ?? String(p[0]);
}
