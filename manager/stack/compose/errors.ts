// Problems found in Compose files: where they are (file, line, column), how they are collected, and the error that lists them.

/** A place in a Compose file; line and column count from 1. */
export interface Loc {
  file: string;
  line?: number;
  column?: number;
}

export interface ComposeProblem {
  file: string;
  line?: number;
  column?: number;
  message: string;
}

/** "file:line:col: message", leaving out what is not known. */
export function formatProblem(p: ComposeProblem): string {
  const where = [p.file, p.line, p.column].filter((x) => x !== undefined).join(':');
  return `${where}: ${p.message}`;
}

/** Everything wrong with a set of Compose files, each problem with its place. */
export class ComposeError extends Error {
  override readonly name = 'ComposeError';
  readonly problems: ComposeProblem[];
  constructor(problems: ComposeProblem[]) {
    const n = problems.length;
    super(
      `${n} problem${n === 1 ? '' : 's'} in the Compose file${n === 1 ? '' : 's'}:\n` +
        problems.map((p) => `  ${formatProblem(p)}`).join('\n'),
    );
    this.problems = problems;
  }
}

export const isComposeError = (e: unknown): e is ComposeError => e instanceof ComposeError;

/** Collects problems and warnings in the order they are found; nothing stops at the first. */
export class Problems {
  readonly problems: ComposeProblem[] = [];
  readonly warnings: string[] = [];
  private readonly seenWarnings = new Set<string>();

  add(loc: Loc | undefined, message: string): void {
    this.problems.push({ file: loc?.file ?? '(compose)', ...lineCol(loc), message });
  }

  /** A warning is given once, however often the same thing is met at the same place. */
  warn(loc: Loc | undefined, message: string): void {
    const text = formatProblem({ file: loc?.file ?? '(compose)', ...lineCol(loc), message });
    if (this.seenWarnings.has(text)) return;
    this.seenWarnings.add(text);
    this.warnings.push(text);
  }

  get count(): number {
    return this.problems.length;
  }

  throwIfAny(): void {
    if (this.problems.length > 0) throw new ComposeError(this.problems);
  }
}

function lineCol(loc: Loc | undefined): { line?: number; column?: number } {
  const out: { line?: number; column?: number } = {};
  if (loc?.line !== undefined) out.line = loc.line;
  if (loc?.column !== undefined) out.column = loc.column;
  return out;
}
