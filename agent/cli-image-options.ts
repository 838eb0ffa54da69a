// The agent's flags about container images: which engine, download limit and the blob server for neighbours.
import type { Argv } from 'yargs';
import { parseBandwidth } from '../shared/images/bandwidth.js';
import { DEFAULT_BLOB_PORT } from './reconcile/agent.js';

/** Adds --docker-host, --max-bandwidth, --blob-port and --serve-blobs to an agent command. */
export function withImageOptions<T>(y: Argv<T>) {
  return y
    .option('docker-host', {
      type: 'string',
      describe:
        'the Docker engine to run tasks on: unix:///path/to/docker.sock, a socket path or tcp://host:port (default: DOCKER_HOST, else /var/run/docker.sock)',
    })
    .option('max-bandwidth', {
      type: 'string',
      default: '0',
      describe: 'download limit for images from the fleet, e.g. 2M (bytes per second; 0: none)',
      coerce: (v: string) => {
        const n = parseBandwidth(String(v));
        if (n === null)
          throw new Error(`--max-bandwidth must be a rate such as 2M or 512k, got "${v}"`);
        return n;
      },
    })
    .option('blob-port', {
      type: 'number',
      default: DEFAULT_BLOB_PORT,
      describe:
        'port on the advertise address where neighbours on the same site fetch image layers (0: any free port)',
    })
    .option('serve-blobs', {
      type: 'boolean',
      default: true,
      describe: 'serve image layers this board holds to neighbours (--no-serve-blobs: never)',
    });
}
