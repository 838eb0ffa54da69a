// `fleet-agent board setup` as the boot unit runs it, against a made-up root: the files it writes, a second run that changes nothing, settings removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLEET_KEY_MARK } from '../../agent/board/ssh.js';
import { tempDir } from '../helpers/cluster.js';

const ENTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../agent/main.js');
const OTHER_KEY = 'ssh-rsa AAAAB3NzaC1yc2Eother ops@jump';
const FLEET_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5mine me@laptop';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const boardSetup = (config: string, root: string): Promise<Run> =>
  new Promise((resolve) => {
    const args = [ENTRY, 'board', 'setup', '--config', config, '--root', root];
    execFile(process.execPath, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });

/** A root as a fresh image has it: Debian's /etc files, sshd without keys, zoneinfo, wpa_supplicant. */
async function fakeRoot(): Promise<string> {
  const root = tempDir('board-root');
  const put = async (p: string, text: string, mode = 0o644): Promise<void> => {
    await fs.mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await fs.writeFile(path.join(root, p), text, { mode });
  };
  await put('etc/hostname', 'fleet-board\n');
  await put('etc/hosts', '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n');
  await put('etc/machine-id', '0123456789abcdef0123456789abcdef\n');
  await put('etc/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\n');
  await put('usr/share/zoneinfo/Europe/Berlin', 'TZif2 (a stand-in)\n');
  await put('usr/share/zoneinfo/UTC', 'TZif2 (a stand-in)\n');
  await put('lib/systemd/system/wpa_supplicant@.service', '[Unit]\n');
  await put('root/.ssh/authorized_keys', `${OTHER_KEY}\n`, 0o600);
  return root;
}

/** Every path under `dir` with its type, mode, modification time and content or link target. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of (await fs.readdir(d)).sort()) {
      const p = path.join(d, name);
      const st = await fs.lstat(p);
      const what = st.isSymbolicLink()
        ? `-> ${await fs.readlink(p)}`
        : st.isDirectory()
          ? 'dir'
          : await fs.readFile(p, 'utf8');
      out.set(path.relative(dir, p), `${st.mode.toString(8)} ${st.mtimeMs} ${what}`);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

const read = (root: string, p: string): Promise<string> => fs.readFile(path.join(root, p), 'utf8');
const modeOf = async (root: string, p: string): Promise<number> =>
  (await fs.stat(path.join(root, p))).mode & 0o777;

test('board setup writes the host name, SSH, Wi-Fi and time zone, and a second run changes nothing', async () => {
  const root = await fakeRoot();
  const config = path.join(tempDir('board-config'), 'fleet.json');
  await fs.writeFile(
    config,
    JSON.stringify({
      version: 1,
      managers: ['10.0.0.2:8883'],
      hostname: 'pi-{serial}',
      wifi: { ssid: 'lab', passphrase: 'correct horse' },
      sshAuthorizedKey: FLEET_KEY,
      timezone: 'Europe/Berlin',
    }),
  );
  const first = await boardSetup(config, root);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /^board setup: root partition: skipped: not the running system/m);
  assert.match(first.stdout, /^board setup: ssh: made host keys \(rsa, ecdsa, ed25519\)/m);
  assert.match(first.stdout, /^board setup: done in /m);
  // The serial falls back to the machine id, as the agent's node name does.
  assert.equal(await read(root, 'etc/hostname'), 'pi-0123456789ab\n');
  assert.match(
    await read(root, 'etc/hosts'),
    /^127\.0\.0\.1\tlocalhost\n127\.0\.1\.1\tpi-0123456789ab\n/,
  );
  assert.match(await read(root, 'etc/ssh/ssh_host_ed25519_key.pub'), /^ssh-ed25519 /);
  assert.equal(await modeOf(root, 'etc/ssh/ssh_host_ed25519_key'), 0o600);
  assert.equal(
    await read(root, 'root/.ssh/authorized_keys'),
    `${OTHER_KEY}\n${FLEET_KEY_MARK}\n${FLEET_KEY}\n`,
  );
  assert.equal(await modeOf(root, 'root/.ssh'), 0o700);
  assert.equal(await modeOf(root, 'root/.ssh/authorized_keys'), 0o600);
  const wpa = 'etc/wpa_supplicant/wpa_supplicant-wlan0.conf';
  assert.match(await read(root, wpa), /^\tssid=6c6162$/m);
  assert.equal(await modeOf(root, wpa), 0o600);
  assert.match(await read(root, 'etc/systemd/network/25-wlan.network'), /^Name=wlan0$/m);
  const wants = 'etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service';
  assert.equal(
    await fs.readlink(path.join(root, wants)),
    '/lib/systemd/system/wpa_supplicant@.service',
  );
  assert.equal(
    await fs.readlink(path.join(root, 'etc/localtime')),
    '../usr/share/zoneinfo/Europe/Berlin',
  );
  assert.equal(await read(root, 'etc/timezone'), 'Europe/Berlin\n');

  const before = await snapshot(root);
  const second = await boardSetup(config, root);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.deepEqual(await snapshot(root), before);
  for (const step of ['hostname', 'wifi', 'time zone']) {
    assert.match(second.stdout, new RegExp(`^board setup: ${step}: .*unchanged`, 'm'), step);
  }
  assert.match(second.stdout, /^board setup: ssh: host keys present; authorized key unchanged$/m);
});

test('settings taken out of fleet.json are undone; a bad time zone fails its step only', async () => {
  const root = await fakeRoot();
  const config = path.join(tempDir('board-config'), 'fleet.json');
  const base = { version: 1, managers: ['10.0.0.2:8883'] };
  const withAll = {
    ...base,
    wifi: { ssid: 'lab', passphrase: 'correct horse' },
    sshAuthorizedKey: FLEET_KEY,
  };
  await fs.writeFile(config, JSON.stringify(withAll));
  assert.equal((await boardSetup(config, root)).code, 0);
  await fs.writeFile(config, JSON.stringify({ ...base, timezone: 'Mars/Olympus_Mons' }));
  const r = await boardSetup(config, root);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^board setup: time zone: FAILED: unknown time zone Mars\/Olympus_Mons/m);
  assert.match(r.stdout, /^board setup: wifi: no wifi in fleet\.json: removed/m);
  assert.match(r.stdout, /^board setup: done in .*; failed: time zone$/m);
  // The default pattern names the host when fleet.json has none.
  assert.equal(await read(root, 'etc/hostname'), 'fleet-0123456789ab\n');
  for (const gone of [
    'etc/wpa_supplicant/wpa_supplicant-wlan0.conf',
    'etc/systemd/network/25-wlan.network',
    'etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service',
  ]) {
    assert.equal(existsSync(path.join(root, gone)), false, gone);
  }
  assert.equal(await read(root, 'root/.ssh/authorized_keys'), `${OTHER_KEY}\n`);
  assert.equal(existsSync(path.join(root, 'etc/localtime')), false);
});

test('no fleet.json is not an error; a broken one is', async () => {
  const root = await fakeRoot();
  const dir = tempDir('board-config');
  const missing = await boardSetup(path.join(dir, 'fleet.json'), root);
  assert.equal(missing.code, 0, missing.stderr);
  assert.match(missing.stdout, /nothing to set up/);
  assert.equal(await read(root, 'etc/hostname'), 'fleet-board\n');
  await fs.writeFile(path.join(dir, 'fleet.json'), '{"version":1,"managers":["nope"]}');
  const broken = await boardSetup(path.join(dir, 'fleet.json'), root);
  assert.equal(broken.code, 1);
  assert.match(
    broken.stderr,
    /^Error: .*fleet\.json: managers\.0: a manager address is HOST:PORT$/m,
  );
});
