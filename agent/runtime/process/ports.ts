// Host ports for a process task: a free ephemeral port for ingress ports, the published one for host-mode ports.
import dgram from 'node:dgram';
import net from 'node:net';
import { errorMessage } from '../../../shared/errors.js';
import type { HostPort, PortSpec } from '../../../shared/spec.js';
import { TaskRejectedError } from '../types.js';

/** Ingress ports get a free ephemeral port; host-mode ports with a published port get exactly it. */
export async function pickPorts(ports: PortSpec[], hostIp: string): Promise<HostPort[]> {
  const out: HostPort[] = [];
  for (const p of ports) {
    const wanted = p.mode === 'host' && p.published !== undefined ? p.published : 0;
    let hostPort: number;
    try {
      hostPort = await probePort(p.protocol, hostIp, wanted);
    } catch (e) {
      throw new TaskRejectedError(
        `cannot bind ${p.protocol} ${hostIp}:${wanted}: ${errorMessage(e)}`,
      );
    }
    out.push({ target: p.target, protocol: p.protocol, hostIp, hostPort });
  }
  return out;
}

/** Binds and releases a port, returning the number the kernel gave. */
function probePort(protocol: 'tcp' | 'udp', host: string, port: number): Promise<number> {
  if (protocol === 'udp') {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      sock.once('error', reject);
      sock.bind(port, host, () => {
        const bound = sock.address().port;
        sock.close(() => resolve(bound));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      server.close(() => resolve(bound));
    });
  });
}
