// Prometheus text in tests: promtool's verdict on it, and the value of one sample.
import type { TestContext } from 'node:test';
import { execFile } from 'node:child_process';

/** promtool from Debian's prometheus package; CI must have it, elsewhere the test is skipped. */
export async function requirePromtool(t: TestContext): Promise<boolean> {
  const found = await new Promise<boolean>((resolve) =>
    execFile('promtool', ['--version'], (err) => resolve(!err)),
  );
  if (found) return true;
  if (process.env.CI) throw new Error('promtool is required in CI (apt-get install prometheus)');
  t.skip('promtool not installed (apt-get install prometheus)');
  return false;
}

/** `promtool check metrics` on the text: its complaints, or '' when it accepts it. */
export function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}

/** Value of the first sample of NAME whose labels include every given pair. */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => got.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return null;
}
