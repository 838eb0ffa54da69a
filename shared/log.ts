// Structured logging: one line per event, human-readable by default, JSON with FLEET_LOG_FORMAT=json.
export type Level = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LogSink {
  write(line: string): void;
}

export function createLogger(
  component: string,
  opts: { level?: Level; json?: boolean; sink?: LogSink } = {},
): Logger {
  const level = opts.level ?? envLevel();
  const json = opts.json ?? process.env.FLEET_LOG_FORMAT === 'json';
  const sink = opts.sink ?? { write: (line: string) => process.stderr.write(line + '\n') };
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[lvl] < ORDER[level]) return;
    const time = new Date().toISOString();
    if (json) {
      sink.write(JSON.stringify({ time, level: lvl, component, msg, ...fields }));
      return;
    }
    const extra = fields ? ' ' + formatFields(fields) : '';
    sink.write(`${time} ${lvl.toUpperCase().padEnd(5)} [${component}] ${msg}${extra}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger(`${component}/${c}`, { level, json, sink }),
  };
}

/** A logger that drops everything, for library code used without one. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/** A logger that keeps lines in memory, for tests that assert a reason was logged. */
export function memoryLogger(component = 'test'): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger(component, {
    level: 'debug',
    json: true,
    sink: { write: (l) => lines.push(l) },
  });
  return Object.assign(logger, { lines });
}

function envLevel(): Level {
  const v = process.env.FLEET_LOG_LEVEL;
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' ? v : 'info';
}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : safeJson(v)}`)
    .join(' ');
}

function safeJson(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
