// The Docker engine address parser: the forms DOCKER_HOST and --docker-host take, and which one wins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_DOCKER_SOCKET,
  DockerHostError,
  parseDockerHost,
  resolveDockerHost,
} from '../../shared/docker-host.js';

test('unix:// addresses and plain absolute paths are local sockets', () => {
  assert.deepEqual(parseDockerHost('unix:///run/e1/docker.sock'), {
    options: { socketPath: '/run/e1/docker.sock' },
    display: '/run/e1/docker.sock',
  });
  assert.deepEqual(parseDockerHost('/tmp/x.sock').options, { socketPath: '/tmp/x.sock' });
  assert.deepEqual(parseDockerHost('  UNIX:///a.sock ').options, { socketPath: '/a.sock' });
  // The docker CLI reads a bare unix:// as the default socket.
  assert.deepEqual(parseDockerHost('unix://').options, { socketPath: DEFAULT_DOCKER_SOCKET });
});

test('tcp:// addresses become plain HTTP to host and port, 2375 when none is given', () => {
  assert.deepEqual(parseDockerHost('tcp://10.0.0.5:2380'), {
    options: { host: '10.0.0.5', port: 2380, protocol: 'http' },
    display: 'tcp://10.0.0.5:2380',
  });
  assert.deepEqual(parseDockerHost('tcp://board-1').options, {
    host: 'board-1',
    port: 2375,
    protocol: 'http',
  });
  const v6 = parseDockerHost('tcp://[::1]:2376');
  assert.deepEqual(v6.options, { host: '::1', port: 2376, protocol: 'http' });
  assert.equal(v6.display, 'tcp://[::1]:2376');
  assert.equal(parseDockerHost('tcp://h:2375/').display, 'tcp://h:2375');
});

test('other forms are refused with the value, its source and the forms understood', () => {
  const bad: [string, RegExp][] = [
    ['', /is empty/],
    ['   ', /is empty/],
    ['docker.sock', /neither a socket path nor an address/],
    ['unix://run/docker.sock', /relative socket path/],
    ['ssh://pi@board', /ssh:\/\/ scheme, which is not supported/],
    ['npipe:////./pipe/docker_engine', /npipe:\/\/ scheme/],
    ['http://h:2375', /http:\/\/ scheme/],
    ['tcp://h:2375/v1.41', /path after host:port/],
    ['tcp://u:p@h:2375', /credentials/],
    ['tcp://h:99999', /not a valid tcp address/],
    ['tcp://h:0', /bad port/],
    ['tcp://:2375', /not a valid tcp address|has no host/],
  ];
  for (const [value, why] of bad) {
    assert.throws(
      () => parseDockerHost(value, '--docker-host'),
      (e: unknown) => {
        assert.ok(e instanceof DockerHostError, `${value}: ${String(e)}`);
        assert.match(e.message, why, value);
        assert.ok(e.message.startsWith(`--docker-host "${value}"`), e.message);
        assert.match(e.message, /expected unix:\/\/\/path\/to\/docker.sock/);
        return true;
      },
    );
  }
});

test('the flag wins over DOCKER_HOST, which wins over the default socket', () => {
  const env = { DOCKER_HOST: 'unix:///env.sock' };
  assert.equal(resolveDockerHost('unix:///flag.sock', env).display, '/flag.sock');
  assert.equal(resolveDockerHost(undefined, env).display, '/env.sock');
  assert.equal(resolveDockerHost(undefined, {}).display, DEFAULT_DOCKER_SOCKET);
  // An empty DOCKER_HOST counts as unset, as the docker CLI reads it.
  assert.equal(resolveDockerHost(undefined, { DOCKER_HOST: '' }).display, DEFAULT_DOCKER_SOCKET);
  // A good flag hides a bad DOCKER_HOST; a bad one names where it came from.
  assert.equal(resolveDockerHost('/f.sock', { DOCKER_HOST: 'ssh://x' }).display, '/f.sock');
  assert.throws(
    () => resolveDockerHost(undefined, { DOCKER_HOST: 'ssh://x' }),
    /^.*DOCKER_HOST "ssh:\/\/x"/,
  );
  assert.throws(() => resolveDockerHost('relative.sock', env), /--docker-host "relative.sock"/);
});

test('TLS settings for a tcp engine are refused rather than ignored', () => {
  assert.throws(
    () => resolveDockerHost(undefined, { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1' }),
    /TLS to the engine is not supported/,
  );
  const sock = resolveDockerHost(undefined, { DOCKER_HOST: '/s.sock', DOCKER_TLS_VERIFY: '1' });
  assert.equal(sock.display, '/s.sock');
});
