// The key table is complete and documented: every key the Compose schema knows is classified, and docs/stacks.md lists each one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KEY_TABLE } from '../../manager/stack/compose/index.js';
import { composeSchema } from '../../manager/stack/compose/schema.js';

const DOCS = path.join(import.meta.dirname, '../../../docs/stacks.md');
const WORDS = { yes: 'honoured', ignored: 'ignored', warn: 'warns', no: '**refused**' } as const;

type Schema = { properties?: Record<string, unknown>; definitions?: Record<string, Schema> };

function propertiesOf(schema: Schema | undefined): string[] {
  return Object.keys(schema?.properties ?? {});
}

test('every key the Compose schema knows is in the key table', () => {
  const schema = composeSchema() as Schema;
  const defs = schema.definitions ?? {};
  const expected = [
    ...propertiesOf(schema).map((k) => `top.${k}`),
    ...propertiesOf(defs.service).map((k) => `service.${k}`),
    ...propertiesOf(defs.deployment).map((k) => `service.deploy.${k}`),
    ...propertiesOf(defs.healthcheck).map((k) => `service.healthcheck.${k}`),
    ...propertiesOf(defs.network).map((k) => `network.${k}`),
    ...propertiesOf(defs.volume).map((k) => `volume.${k}`),
    ...propertiesOf(defs.secret).map((k) => `secret.${k}`),
    ...propertiesOf(defs.config).map((k) => `config.${k}`),
  ];
  const missing = expected.filter((k) => !KEY_TABLE.has(k));
  assert.deepEqual(missing, []);
});

test('docs/stacks.md lists every key of the table with what fleet and Swarm do', () => {
  const docs = readFileSync(DOCS, 'utf8');
  const rows = new Map<string, string[]>();
  for (const line of docs.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m?.[1] && m[2])
      rows.set(
        m[1],
        m[2].split('|').map((c) => c.trim()),
      );
  }
  const problems: string[] = [];
  for (const [key, rule] of KEY_TABLE) {
    const row = rows.get(key);
    if (!row) problems.push(`${key}: not in docs/stacks.md`);
    else if (row[0] !== WORDS[rule.fleet]) problems.push(`${key}: docs say ${row[0]}`);
  }
  for (const key of rows.keys())
    if (/^(top|service|network|volume|secret|config)\./.test(key) && !KEY_TABLE.has(key))
      problems.push(`${key}: in the docs but not in the table`);
  assert.deepEqual(problems, []);
});

test('docs/stacks.md explains discovery by name and points to docs/networks.md', () => {
  const docs = readFileSync(DOCS, 'utf8');
  assert.match(docs, /## Networks and discovery by name\n[^#]*\(networks\.md\)/);
});
