// Env files (.env beside the Compose file, and a service's env_file): KEY=VALUE lines with quotes, comments and `export`.

export interface EnvLine {
  key: string;
  /** Absent for a bare KEY: the value comes from the environment, or the key is left out. */
  value?: string;
  line: number;
}

/** Parses an env file; a malformed line is reported by its number and the rest still read. */
export function parseDotenv(text: string, bad: (line: number, message: string) => void): EnvLine[] {
  const out: EnvLine[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim().replace(/^export\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) {
      bad(i + 1, `expected KEY=VALUE, not ${JSON.stringify(raw.slice(0, 80))}`);
      return;
    }
    if (eq < 0) {
      out.push({ key, line: i + 1 });
      return;
    }
    const value = unquote(line.slice(eq + 1).trim());
    if (value === null) bad(i + 1, `unterminated quote in the value of ${key}`);
    else out.push({ key, value, line: i + 1 });
  });
  return out;
}

function unquote(v: string): string | null {
  const q = v[0];
  if (q === "'" || q === '"') {
    const end = v.indexOf(q, 1);
    if (end < 0) return null;
    const inner = v.slice(1, end);
    if (q === "'") return inner;
    return inner.replace(/\\([nrt"\\])/g, (_, c: string) =>
      c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c,
    );
  }
  // An unquoted value ends at a " #" comment.
  const hash = v.search(/\s#/);
  return (hash < 0 ? v : v.slice(0, hash)).trim();
}
