// `fleet os configure FILE.img`: writes the join settings (fleet.json) into an image's boot partition, in place.
import { readFile } from 'node:fs/promises';
import {
  BOARD_SETTINGS_FILE,
  boardSettingsSchema,
  formatBoardSettings,
  type BoardSettings,
} from '../../../shared/board-settings.js';
import { writeBootFile } from '../../../firmware-images/boot-partition.js';
import { defineCommand } from '../command.js';
import { labelOption } from '../flags/env-labels.js';
import { UsageError } from '../usage.js';

export const configureCommand = defineCommand({
  command: 'configure <image>',
  describe: 'Write the join settings (fleet.json) into an image without rebuilding it',
  builder: (y) =>
    y
      .positional('image', { type: 'string', demandOption: true, describe: 'the disk image' })
      .option('manager', {
        type: 'string',
        array: true,
        nargs: 1,
        demandOption: true,
        describe: 'manager address HOST:PORT; repeat or separate with commas for several',
      })
      .option('token', { type: 'string', demandOption: true, describe: 'worker join token' })
      .options(BOARD_SETTING_OPTIONS)
      .example(
        '$0 os configure pi.img --manager 10.0.0.2:8883 --token FLEET-1-… --label room=lab',
        'make every board flashed from pi.img join that manager',
      ),
  handler: async (argv) => {
    const settings = await settingsFrom({
      managers: argv.manager,
      token: argv.token,
      ...boardSettingFlags(argv),
    });
    await writeBootFile(argv.image, BOARD_SETTINGS_FILE, formatBoardSettings(settings));
    const labels = Object.keys(settings.labels).length;
    process.stdout.write(
      `Wrote ${BOARD_SETTINGS_FILE} to ${argv.image}: managers ${settings.managers.join(', ')}` +
        `${labels > 0 ? `, ${labels} label${labels > 1 ? 's' : ''}` : ''}` +
        `${settings.wifi ? `, Wi-Fi ${settings.wifi.ssid}` : ''}\n`,
    );
  },
});

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
