// The join settings a flashed board reads from fleet.json on its FAT boot partition: the schema, and how they are shown.
import { z } from 'zod';

/** The name of the settings file at the root of the boot partition. */
export const BOARD_SETTINGS_FILE = 'fleet.json';

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

const managerAddress = z.string().refine(
  (s) => {
    const m = HOST_PORT.exec(s);
    const port = Number(m?.[2] ?? 0);
    return m !== null && port >= 1 && port <= 65535;
  },
  { message: 'a manager address is HOST:PORT' },
);

/** Labels as the agent's --label takes them: keys without "=" or spaces. */
const labelKey = z.string().regex(/^[^=\s]+$/, 'a label key has no "=" and no spaces');

/**
 * A hostname pattern: letters, digits and hyphens, with {serial} or {mac} standing for the
 * board's serial number or first MAC address (the default is "fleet-{serial}").
 */
const hostnamePattern = z
  .string()
  .regex(
    /^([A-Za-z0-9-]|\{serial\}|\{mac\})+$/,
    'a hostname uses letters, digits, "-", {serial}, {mac}',
  )
  .max(63);

export const boardSettingsSchema = z
  .object({
    version: z.literal(1),
    managers: z.array(managerAddress).min(1, 'at least one manager address'),
    /** Removed by the board once it holds its own identity. */
    token: z.string().min(1).optional(),
    hostname: hostnamePattern.optional(),
    labels: z.record(labelKey, z.string()).default({}),
    wifi: z
      .object({
        ssid: z.string().min(1).max(32),
        // WPA2-PSK: a pass phrase of 8 to 63 printable ASCII characters (IEEE 802.11i).
        passphrase: z.string().regex(/^[\x20-\x7e]{8,63}$/, 'a pass phrase is 8 to 63 characters'),
      })
      .strict()
      .optional(),
    sshAuthorizedKey: z
      .string()
      .regex(/^(ssh|ecdsa|sk)-[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?$/, 'an SSH public key line')
      .optional(),
    timezone: z
      .string()
      .regex(/^(UTC|[A-Za-z_]+(\/[A-Za-z0-9_+-]+)+)$/, 'a time zone such as Europe/Berlin')
      .optional(),
  })
  .strict();

export type BoardSettings = z.infer<typeof boardSettingsSchema>;

/** Parses fleet.json's text; the error names the key at fault. */
export function parseBoardSettings(text: string): BoardSettings {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${BOARD_SETTINGS_FILE} is not JSON: ${e instanceof Error ? e.message : ''}`);
  }
  const r = boardSettingsSchema.safeParse(raw);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first?.path.length ? first.path.join('.') : '(top level)';
  throw new Error(`${BOARD_SETTINGS_FILE}: ${where}: ${first?.message ?? 'invalid'}`);
}

/** The file's text as written to the boot partition: stable key order, a final newline. */
export function formatBoardSettings(settings: BoardSettings): string {
  return `${JSON.stringify(settings, null, 2)}\n`;
}

/** Settings fit to print: the token and the Wi-Fi pass phrase replaced. */
export function redactBoardSettings(settings: BoardSettings): BoardSettings {
  return {
    ...settings,
    ...(settings.token !== undefined ? { token: '<redacted>' } : {}),
    ...(settings.wifi ? { wifi: { ...settings.wifi, passphrase: '<redacted>' } } : {}),
  };
}
