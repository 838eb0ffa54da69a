// A task's networks in its container create options: network mode, name servers and the ports bound for other nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { applyJoin } from '../../agent/runtime/docker/networks.js';

test('a join sets the first network, puts the gateways first among the name servers and binds every port', () => {
  const options: Docker.ContainerCreateOptions = {
    ExposedPorts: { '80/tcp': {} },
    HostConfig: {
      Dns: ['9.9.9.9', '10.213.4.1'],
      PortBindings: { '80/tcp': [{ HostIp: '127.0.0.201', HostPort: '8000' }] },
    },
  };
  applyJoin(
    options,
    {
      mode: 'myapp_webnet.node1',
      others: ['myapp_back.node1'],
      dns: ['10.213.4.1', '10.213.5.1'],
      ports: ['80/tcp', '5672/tcp', '53/udp'],
    },
    '127.0.0.201',
  );
  assert.equal(options.HostConfig?.NetworkMode, 'myapp_webnet.node1');
  assert.deepEqual(options.HostConfig?.Dns, ['10.213.4.1', '10.213.5.1', '9.9.9.9']);
  assert.deepEqual(Object.keys(options.ExposedPorts ?? {}), ['80/tcp', '5672/tcp', '53/udp']);
  assert.deepEqual(options.HostConfig?.PortBindings, {
    // A published host-mode port keeps its binding; the others get an ephemeral one.
    '80/tcp': [{ HostIp: '127.0.0.201', HostPort: '8000' }],
    '5672/tcp': [{ HostIp: '127.0.0.201', HostPort: '' }],
    '53/udp': [{ HostIp: '127.0.0.201', HostPort: '' }],
  });
});
