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
  let name: string | null = null;
  t.after(() => (name === null ? undefined : removeLaptopImage(name)));
  const image = await buildImageWithLayer({ ...opts, onNamed: (n) => (name = n) });
  return image;
}

/** Removes a built image's tag from the main engine; never throws. */
export function removeLaptopImage(name: string): Promise<void> {
  return run('docker', ['rmi', '-f', name]).then(
    () => undefined,
    () => undefined,
  );
}

/** The same image for callers without a test context (benchmarks): they remove it. */
export async function buildImageWithLayer(opts: {
  bigMiB: number;
  repo?: string;
  /** Told the name before the build starts, so a failed build can be cleaned up. */
  onNamed?: (name: string) => void;
}): Promise<BuiltImage> {
  await ensureTestImage();
  const name = `${opts.repo ?? 'fleet-test/pushed'}:${randomBytes(4).toString('hex')}`;
  opts.onNamed?.(name);
  const dockerfile = [
    `FROM ${TEST_IMAGE}`,
    // The name in the same step: a build cache must not hand two images the same random layer.
    `RUN echo ${name} > /pushed.txt && dd if=/dev/urandom of=/big bs=1048576 count=${opts.bigMiB} 2>/dev/null`,
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    const child = execFile('docker', ['build', '-q', '-t', name, '-'], (err) =>
      err ? reject(new Error(`docker build of ${name} failed: ${err.message}`)) : resolve(),
    );
    child.stdin?.end(dockerfile);
  });
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', name]);
  return { name, id: stdout.trim() };
}
