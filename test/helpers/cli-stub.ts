// Runs the real CLI in-process against a stub manager: records every request a command sends and what it prints.
import { main } from '../../bin/cli.js';
import { connector, type ConnectionArgs } from '../../manager/cli/connection.js';
import type { RpcClient } from '../../manager/cli/rpc-client.js';

export interface Captured {
  calls: { method: string; params: unknown }[];
  /** The connection flags the command connected with. */
  connections: ConnectionArgs[];
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** What the stub manager answers, per method; a method not listed answers `{ id: 'stub' }`. */
export type Answers = Record<string, unknown>;

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
  const { connect } = connector;
  const writeOut = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  connector.connect = stub;
  process.stdout.write = (chunk: string | Uint8Array) => {
    out.stdout += String(chunk);
    return true;
  };
  process.stderr.write = (chunk: string | Uint8Array) => {
    out.stderr += String(chunk);
    return true;
  };
  try {
    await main(argv);
  } finally {
    connector.connect = connect;
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    out.exitCode = Number(process.exitCode ?? 0);
    process.exitCode = 0;
  }
  return out;
}
