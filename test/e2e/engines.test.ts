// The extra-engine test helper: two engines beside the main one, each with its own images, bridge and published ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { freePort } from '../helpers/cluster.js';
import { TEST_IMAGE, ensureTestImage, requireDocker } from '../helpers/docker.js';
import {
  engineDocker,
  listImages,
  loadImage,
  startEngine,
  startEngines,
} from '../helpers/engines.js';
import { httpGet } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);

async function linkExists(name: string): Promise<boolean> {
  return execFileP('ip', ['link', 'show', name]).then(
    () => true,
    () => false,
  );
}

test('two extra engines run beside the main one, each with its own images and ports', async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const engines = await startEngines(t, 2, { prefix: 'flengt' });
  const [e1, e2] = engines;
  assert.ok(e1 && e2);
  assert.notEqual(e1.bridgeAddress, e2.bridgeAddress);
  for (const e of engines) assert.deepEqual(await listImages(e), []);

  await loadImage(e1, TEST_IMAGE);
  assert.deepEqual(await listImages(e1), [TEST_IMAGE]);
  assert.deepEqual(await listImages(e2), [], 'an image loaded into one engine is not in the other');

  await loadImage(e2, TEST_IMAGE);
  // A published port on an engine without iptables rules still answers, through docker-proxy.
  for (const e of engines) {
    const port = await freePort();
    const docker = engineDocker(e);
    const c = await docker.createContainer({
      Image: TEST_IMAGE,
      HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } },
      ExposedPorts: { '80/tcp': {} },
    });
    await c.start();
    const answer = await waitFor(
      async () => {
        const a = await httpGet('127.0.0.1', port);
        return a.ok ? a : null;
      },
      { what: `the container on ${e.name} to answer on port ${port}`, timeoutMs: 10_000 },
    );
    assert.equal(answer.body, 'fleet-test ok');
    const info = await c.inspect();
    const ip = info.NetworkSettings.Networks['bridge']?.IPAddress ?? '';
    assert.ok(ip.startsWith(e.bridgeAddress.split('.').slice(0, 3).join('.') + '.'), ip);
  }

  // The main engine and its bridge are untouched.
  await execFileP('docker', ['version']);
  assert.ok(await linkExists('docker0'));

  await e1.stop();
  assert.equal(await linkExists(e1.bridge), false);
  assert.equal(existsSync(e1.dataRoot), false);
  await execFileP('docker', ['version']);
  await execFileP('docker', ['-H', e2.host, 'version']);
});

test('an engine starts over the leftovers of a killed run under the same name', async (t) => {
  if (!(await requireDocker(t))) return;
  const first = await startEngine('flengt-left');
  t.after(() => first.stop());
  // A killed test leaves dockerd running on its dirs; the next start stops and replaces it.
  const second = await startEngine('flengt-left');
  t.after(() => second.stop());
  await execFileP('docker', ['-H', second.host, 'version']);
  assert.equal(second.socket, first.socket);
});
