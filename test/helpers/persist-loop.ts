// Child process for crash tests: persists growing assignments the way the agent does until killed.
import { writeFileAtomic } from '../../shared/atomic-file.js';
import type { AssignedTask, Assignment } from '../../shared/protocol.js';
import { taskTemplateSchema } from '../../shared/spec.js';

/** Usage: node persist-loop.js FILE NODE_ID. Prints each version once it is fully written. */
async function main(): Promise<void> {
  const [file, nodeId] = process.argv.slice(2);
  if (!file || !nodeId) throw new Error('usage: persist-loop FILE NODE_ID');
  // Bounded even if nobody kills it: the parent kills it within a second.
  const deadline = Date.now() + 30_000;
  for (let version = 1; Date.now() < deadline; version++) {
    // The task count varies, so the file grows and shrinks between writes as real ones do.
    const tasks: AssignedTask[] = Array.from({ length: version % 40 }, (_, i) => ({
      id: `task-${version}-${i}`,
      serviceId: `svc-${i % 5}`,
      serviceName: `svc-${i % 5}`,
      slot: i,
      notBefore: 0,
      template: taskTemplateSchema.parse({
        image: 'fleet-test/none:1',
        command: ['sleep', String(version)],
        env: { VERSION: String(version), PAD: 'x'.repeat((version * 37) % 900) },
      }),
    }));
    const a: Assignment = { v: 1, version, nodeId, heartbeatMs: 2_000, tasks };
    await writeFileAtomic(file, JSON.stringify(a));
    process.stdout.write(`${version}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
