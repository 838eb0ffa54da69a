// Checks that the arm64 Node.js the board tests use really runs, emulated, as arm64.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { arm64Node, arm64Unavailable } from '../helpers/arm64.js';

const run = promisify(execFile);
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

test('emulated arm64 Node.js reports process.arch arm64', { timeout: 600_000 }, async (t) => {
  const node = await arm64Node();
  if (node === null) {
    const reason = arm64Unavailable() ?? 'no reason given';
    // CI installs qemu-user-static and the arm64 libraries, so there a missing emulator is a failure.
    if (inCI) assert.fail(`arm64 Node.js is required in CI but unavailable: ${reason}`);
    t.skip(`arm64 Node.js unavailable: ${reason}`);
    return;
  }
  const script = 'console.log(JSON.stringify({ arch: process.arch, version: process.version }))';
  const { stdout } = await run(node.cmd, [...node.args, '-e', script], { timeout: 120_000 });
  const reported = JSON.parse(stdout) as { arch: unknown; version: unknown };
  assert.equal(reported.arch, 'arm64');
  assert.match(String(reported.version), /^v20\./);

  // A second call is answered from the cache.
  const started = Date.now();
  const again = await arm64Node();
  assert.deepEqual(again, node);
  assert.ok(Date.now() - started < 1_000, 'second arm64Node() call should be cached');
});
