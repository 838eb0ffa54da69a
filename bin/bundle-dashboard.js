// Bundles the dashboard's page (manager/dashboard/web) into dist/dashboard/app.js and app.css, which the manager serves.
import { build } from 'esbuild';
import { statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'manager', 'dashboard', 'web');
const out = join(root, 'dist', 'dashboard');

try {
  await build({
    entryPoints: { app: join(web, 'main.tsx') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: out,
    legalComments: 'none',
    logLevel: 'warning',
  });
  await build({
    entryPoints: { app: join(web, 'app.css') },
    bundle: true,
    minify: true,
    outdir: out,
    logLevel: 'warning',
  });
} catch (err) {
  console.error(`bundle-dashboard: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
for (const f of ['app.js', 'app.css']) {
  const p = join(out, f);
  console.log(`bundle-dashboard: ${relative(root, p)} ${(statSync(p).size / 1024).toFixed(1)} KiB`);
}
