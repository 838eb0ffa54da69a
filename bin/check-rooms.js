// Checks the size rules of the source folders: no file over 400 lines, no function over 80 lines
// except the pure planners and parsers listed in ALLOWED_LONG (each with the reason it reads top-down).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['shared', 'manager', 'agent', 'firmware-images', 'bin'];
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;
/** `file:function` → why it may be longer: one top-down read beats pieces that pass state around. */
const ALLOWED_LONG = new Map([]);

function* sourceFiles(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* sourceFiles(path);
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield path;
  }
}

function functionName(node) {
  if (node.name !== undefined && ts.isIdentifier(node.name)) return node.name.text;
  if (node.name !== undefined && ts.isPrivateIdentifier(node.name)) return node.name.text;
  const parent = node.parent;
  if (parent !== undefined && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) {
    return parent.name.text;
  }
  if (parent !== undefined && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) {
    return parent.name.text;
  }
  return ts.isConstructorDeclaration(node) ? 'constructor' : '(anonymous)';
}

const problems = [];
for (const dir of SOURCE_DIRS) {
  for (const file of sourceFiles(join(root, dir))) {
    const rel = relative(root, file);
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n').length;
    if (lines > MAX_FILE_LINES) problems.push(`${rel}: ${lines} lines (at most ${MAX_FILE_LINES})`);
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
        const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const length = end - start + 1;
        const key = `${rel}:${functionName(node)}`;
        if (length > MAX_FUNCTION_LINES && !ALLOWED_LONG.has(key)) {
          problems.push(
            `${key} (line ${start + 1}): ${length} lines (at most ${MAX_FUNCTION_LINES})`,
          );
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
}

if (problems.length > 0) {
  console.error(`check-rooms: ${problems.length} room(s) too large:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('check-rooms: every source file and function is within its size');
