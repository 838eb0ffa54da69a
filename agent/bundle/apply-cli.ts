// Runs `bundle apply`: applies the bundle here, or hands it to the agent running on this data dir; prints the outcome.
import { holdProcessOpen, systemClock } from '../../shared/clock.js';
import { resolveDockerHost } from '../../shared/docker-host.js';
import { errorMessage } from '../../shared/errors.js';
import { applyBundle, isBundleRefused, type Applied } from './apply.js';
import { handOver } from './inbox.js';

export interface ApplyCliOptions {
  file: string;
  dataDir: string;
  runtime: 'docker' | 'process';
  dockerHost?: string;
}

/** Exit codes: 0 applied, 3 refused (nothing changed), 1 failed part way. */
export async function runApply(o: ApplyCliOptions): Promise<number> {
  const release = holdProcessOpen();
  try {
    // An agent runs on this data dir: it applies the bundle, so the two never fight over it.
    const handed = await handOver(o.file, o.dataDir, systemClock);
    if (handed) {
      (handed.code === 0 ? process.stdout : process.stderr).write(handed.text);
      return handed.code;
    }
    const docker =
      o.runtime === 'docker'
        ? new (await import('dockerode')).default({ ...resolveDockerHost(o.dockerHost).options })
        : null;
    const applied = await applyBundle({
      file: o.file,
      dataDir: o.dataDir,
      clock: systemClock,
      docker,
    });
    process.stdout.write(summary(applied));
    return 0;
  } catch (e) {
    if (isBundleRefused(e)) {
      process.stderr.write(`${e.message}\n`);
      return 3;
    }
    process.stderr.write(`bundle not applied: ${errorMessage(e)}\n`);
    return 1;
  } finally {
    release();
  }
}

export function summary(a: Applied): string {
  const m = a.manifest;
  const lines = [`applied bundle ${m.sequence} (${m.id})`];
  for (const name of a.images) lines.push(`  image ${name} loaded`);
  for (const t of a.state.pending?.tasks ?? [])
    lines.push(`  task ${t.serviceName}.${t.slot} (${t.id}) will run`);
  if (a.agentError)
    lines.push(`  agent ${a.agentVersion ?? ''} staged, not switched to: ${a.agentError}`);
  else if (a.agentVersion) lines.push(`  agent ${a.agentVersion} staged: the board switches to it`);
  return lines.join('\n') + '\n';
}
