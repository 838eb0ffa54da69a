// Builds an image on the main engine only (the "laptop"), with an incompressible layer of a chosen size, for image distribution tests.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { TEST_IMAGE, ensureTestImage } from './docker.js';

const run = promisify(execFile);

export interface BuiltImage {
  name: string;
  /** The engine's image ID: the sha256 of its config. */
  id: string;
}

/**
 * FROM the test image, one layer of `bigMiB` random MiB at /big and a marker file at
 * /pushed.txt; a unique tag, removed from the main engine after the test.
 */
export async function buildLaptopImage(
  t: TestContext,
  opts: { bigMiB: number; repo?: string },
): Promise<BuiltImage> {
  await ensureTestImage();
  const name = `${opts.repo ?? 'fleet-test/pushed'}:${randomBytes(4).toString('hex')}`;
  const dockerfile = [
    `FROM ${TEST_IMAGE}`,
    `RUN dd if=/dev/urandom of=/big bs=1048576 count=${opts.bigMiB} 2>/dev/null`,
    `RUN echo ${name} > /pushed.txt`,
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    const child = execFile('docker', ['build', '-q', '-t', name, '-'], (err) =>
      err ? reject(new Error(`docker build of ${name} failed: ${err.message}`)) : resolve(),
    );
    child.stdin?.end(dockerfile);
  });
  t.after(() =>
    run('docker', ['rmi', '-f', name]).then(
      () => undefined,
      () => undefined,
    ),
  );
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', name]);
  return { name, id: stdout.trim() };
}
