#!/usr/bin/env node
// Entry point of the `fleet` command: runs the compiled CLI from dist/.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/bin/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('fleet is not built yet: run npm start or npm run build\n');
  process.exit(1);
}
const { main } = await import(cli.href);
await main(process.argv.slice(2));
