// Runs the real CLI in-process against a stub manager: records every request a command sends and what it prints.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../bin/cli.js';
import { connector, type ConnectionArgs } from '../../manager/cli/connection.js';
import type { RpcClient } from '../../manager/cli/rpc-client.js';

export interface Captured {
  calls: { method: string; params: unknown }[];
  /** Where the command connected, once flags, environment and context were weighed. */
  connections: ConnectionArgs[];
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** What the stub manager answers, per method; a method not listed answers `{ id: 'stub' }`. */
export type Answers = Record<string, unknown>;

// Saved contexts are read from the user's config directory: tests get an empty one of their own.
process.env.XDG_CONFIG_HOME = mkdtempSync(path.join(tmpdir(), 'fleet-config-'));

export async function captureCalls(argv: string[], answers: Answers = {}): Promise<Captured> {
  const out: Captured = { calls: [], connections: [], stdout: '', stderr: '', exitCode: 0 };
  const stub = (args: ConnectionArgs): Promise<RpcClient> => {
    out.connections.push({ ...args });
    const client = {
      host: '127.0.0.1:4883',
      knownHosts: ['127.0.0.1:4883'],
      call: (method: string, params: unknown) => {
        out.calls.push({ method, params });
        return Promise.resolve(method in answers ? answers[method] : { id: 'stub' });
      },
      close: () => Promise.resolve(),
    };
    return Promise.resolve(client as unknown as RpcClient);
  };
  // The CLI looks process.stdout up at each write; the test runner holds its own reference to
  // the real stream, so swapping the property captures the command's output and nothing else.
  const realOut = process.stdout;
  const realErr = process.stderr;
  const sink = (field: 'stdout' | 'stderr') => ({
    write: (chunk: string | Uint8Array) => {
      out[field] += String(chunk);
      return true;
    },
    isTTY: false,
    columns: 100,
  });
  const swap = (stdout: unknown, stderr: unknown): void => {
    Object.defineProperty(process, 'stdout', { value: stdout, configurable: true, writable: true });
    Object.defineProperty(process, 'stderr', { value: stderr, configurable: true, writable: true });
  };
  const { connect } = connector;
  // The runner marks a failed test in process.exitCode: kept apart from the command's.
  const runnerCode = process.exitCode;
  process.exitCode = 0;
  connector.connect = stub;
  swap(sink('stdout'), sink('stderr'));
  try {
    await main(argv);
  } finally {
    connector.connect = connect;
    swap(realOut, realErr);
    out.exitCode = Number(process.exitCode ?? 0);
    process.exitCode = runnerCode;
  }
  return out;
}
