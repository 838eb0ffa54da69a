// The fake runtime passes the runtime driver contract that the Docker and process runtimes pass.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeRuntime, type FakeProgram } from '../../agent/runtime/fake.js';
import { assignedTask, runtimeSuite, type Kind } from '../helpers/runtime-contract.js';

/** Runs until stopped. */
const long: FakeProgram = () => ({});

/** Exits with code 3 right after it started, as `sh -c 'exit 3'` does. */
const exit3: FakeProgram = (ctx) => {
  setImmediate(() => ctx.exit(3));
  return {};
};

/** Serves HTTP on the host address, on a port the kernel picks, and reports that port. */
const httpServer: FakeProgram = async (ctx) => {
  const server = http.createServer((_req, res) => res.end('fleet-test ok\n'));
  await new Promise<void>((resolve) => server.listen(0, ctx.hostIp, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    hostPorts: ctx.hostPorts.map((p) => ({ ...p, hostPort: port })),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

const IMAGES: Record<Kind, string> = { long: 'fake/long', exit3: 'fake/exit3', http: 'fake/http' };

runtimeSuite(
  'fake',
  async () =>
    new FakeRuntime({
      programs: { [IMAGES.long]: long, [IMAGES.exit3]: exit3, [IMAGES.http]: httpServer },
    }),
  (kind, id, slot) =>
    assignedTask(id, slot, IMAGES[kind], [], kind === 'http' ? [{ target: 80 }] : []),
);
