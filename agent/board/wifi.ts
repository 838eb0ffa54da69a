// Wi-Fi from fleet.json: wpa_supplicant's file for wlan0, a systemd-networkd file for DHCP, and the service enabled (or all removed).
import { pbkdf2Sync } from 'node:crypto';
import { under, type SetupStep } from './context.js';
import { exists, linkIfChanged, removeIfPresent, writeIfChanged } from './files.js';

export const WIFI_INTERFACE = 'wlan0';
export const WPA_CONF = `/etc/wpa_supplicant/wpa_supplicant-${WIFI_INTERFACE}.conf`;
export const WLAN_NETWORK = '/etc/systemd/network/25-wlan.network';
export const WPA_UNIT = `wpa_supplicant@${WIFI_INTERFACE}.service`;
/** Where `systemctl enable` links the template instance, as its [Install] section says. */
export const WPA_WANTS = `/etc/systemd/system/multi-user.target.wants/${WPA_UNIT}`;
const WPA_TEMPLATES = [
  '/lib/systemd/system/wpa_supplicant@.service',
  '/usr/lib/systemd/system/wpa_supplicant@.service',
];

/**
 * wpa_supplicant's configuration for one WPA2-PSK network. The SSID is written in hex and the
 * pass phrase as its PSK (PBKDF2-SHA1, 4096 rounds, salted with the SSID, as wpa_passphrase
 * does), so no character of either needs quoting and the pass phrase itself is not stored.
 */
export function wpaSupplicantConf(ssid: string, passphrase: string): string {
  const psk = pbkdf2Sync(passphrase, ssid, 4096, 32, 'sha1').toString('hex');
  return [
    '# Written by fleet from fleet.json at every boot; edit fleet.json instead.',
    // Root only: a GROUP= naming a group the image lacks would stop wpa_supplicant.
    'ctrl_interface=/run/wpa_supplicant',
    'update_config=0',
    '',
    'network={',
    `\tssid=${Buffer.from(ssid, 'utf8').toString('hex')}`,
    `\tpsk=${psk}`,
    '\tkey_mgmt=WPA-PSK',
    '}',
    '',
  ].join('\n');
}

/** The systemd-networkd file: DHCP on the Wi-Fi interface. */
export function wlanNetwork(): string {
  return ['[Match]', `Name=${WIFI_INTERFACE}`, '', '[Network]', 'DHCP=yes', ''].join('\n');
}

export const applyWifi: SetupStep = async (ctx) => {
  const wifi = ctx.settings.wifi;
  if (!wifi) {
    let removed = 0;
    for (const f of [WPA_CONF, WLAN_NETWORK, WPA_WANTS]) {
      if (await removeIfPresent(under(ctx, f))) removed++;
    }
    return removed > 0
      ? 'no wifi in fleet.json: removed its files and disabled wpa_supplicant'
      : 'not set';
  }
  let template: string | undefined;
  for (const t of WPA_TEMPLATES) if (await exists(under(ctx, t))) template = template ?? t;
  if (!template)
    throw new Error(`wifi is set, but wpa_supplicant is not installed (no ${WPA_TEMPLATES[0]})`);
  let changed = await writeIfChanged(
    under(ctx, WPA_CONF),
    wpaSupplicantConf(wifi.ssid, wifi.passphrase),
    0o600,
  );
  changed = (await writeIfChanged(under(ctx, WLAN_NETWORK), wlanNetwork())) || changed;
  const enabled = await linkIfChanged(under(ctx, WPA_WANTS), template);
  if (enabled && ctx.live) {
    // The boot's units were loaded before the link existed: start it now, without waiting.
    await ctx.run('systemctl', ['start', '--no-block', WPA_UNIT]);
  }
  if (!changed && !enabled) return `${JSON.stringify(wifi.ssid)}, unchanged`;
  return `network ${JSON.stringify(wifi.ssid)} on ${WIFI_INTERFACE}: wrote ${WPA_CONF} and ${WLAN_NETWORK}${enabled ? `, enabled ${WPA_UNIT}` : ''}`;
};
