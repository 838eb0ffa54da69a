// The dashboard's log tail fed from the log relay: a service's lines as `fleet service logs -f` gets them.
import type { LogPart } from '../../shared/log-stream.js';
import type { LogRelay } from '../logs/relay.js';
import type { DashboardLogSource } from './sources.js';

/** Lines kept from each task's log when the tail opens, as `--tail` does. */
const TAIL_LINES = 50;

export function relayLogSource(relay: LogRelay): DashboardLogSource {
  return {
    follow(service, on, onError) {
      const parts = new Map<number, LogPart>();
      let failed = false;
      return relay.followLocal(
        { kind: 'service', ref: service },
        { follow: true, tail: TAIL_LINES },
        (r) => {
          if (r.kind === 'opened') for (const p of r.parts) parts.set(p.key, p);
          else if (r.kind === 'lines')
            for (const l of r.lines) {
              const p = parts.get(l.k);
              on({
                at: l.t,
                task: p?.name ?? '?',
                node: p?.node ?? '?',
                stream: l.e ? 'stderr' : 'stdout',
                line: l.x,
              });
            }
          else if (r.kind === 'error' && !failed) {
            failed = true;
            onError(r.message);
          }
        },
      );
    },
  };
}
