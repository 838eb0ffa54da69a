// The engine's errors turned into the ones the agent acts on: rejected tasks, missing images, an unreachable engine.
import { errorMessage } from '../../../shared/errors.js';
import type { AssignedTask } from '../../../shared/protocol.js';
import type { RejectReason } from '../../../shared/reject-reasons.js';
import { ImageUnavailableError, TaskRejectedError } from '../types.js';
import { isRecord } from './fields.js';

/** The HTTP status of a dockerode error, when the engine answered at all. */
export function statusOf(e: unknown): number | undefined {
  return isRecord(e) && typeof e.statusCode === 'number' ? e.statusCode : undefined;
}

/** The engine's own message, without dockerode's "(HTTP code 500) server error - " prefix. */
export function dockerMessage(e: unknown): string {
  if (isRecord(e) && isRecord(e.json) && typeof e.json.message === 'string') {
    return e.json.message.trim();
  }
  return errorMessage(e)
    .replace(/^\(HTTP code \d+\) [^-]*- /, '')
    .trim();
}

/** The engine's socket could not be reached or the connection broke: worth retrying later. */
export function isConnectionError(e: unknown): boolean {
  const code = isRecord(e) ? e.code : undefined;
  return (
    typeof code === 'string' &&
    ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code)
  );
}

/** Says which engine could not be reached, doing what. */
export function unreachable(socketPath: string, what: string, e: unknown): Error {
  return new Error(`Docker engine not reachable at ${socketPath} (${what}): ${errorMessage(e)}`);
}

/** An engine failure as one Error naming the operation; connection trouble names the socket. */
export function translate(socketPath: string, what: string, e: unknown): Error {
  if (isConnectionError(e)) return unreachable(socketPath, what, e);
  if (statusOf(e) !== undefined) return new Error(`docker ${what} failed: ${dockerMessage(e)}`);
  return e instanceof Error ? e : new Error(String(e));
}

/** Turns an engine refusal into the error the agent acts on; connection trouble stays retryable. */
export function classify(socketPath: string, e: unknown, task: AssignedTask, what: string): Error {
  const status = statusOf(e);
  if (status === undefined) return translate(socketPath, what, e);
  if (status === 404 && /image/i.test(dockerMessage(e))) {
    return new ImageUnavailableError(task.template.image, 'not found locally');
  }
  const message = dockerMessage(e);
  if (status >= 400 && status < 500) return new TaskRejectedError(message, reasonOf(message));
  if (isSpecProblem(message)) return new TaskRejectedError(message, reasonOf(message));
  return new Error(`docker ${what} failed: ${message}`);
}

/**
 * The code of an engine refusal that no retry on this node cures. The engine gives no codes,
 * so its messages are read once, here, into one.
 */
export function reasonOf(message: string): RejectReason | undefined {
  if (/exec format error/i.test(message)) return 'platform';
  if (
    /error gathering device information|no such device|device .* (not found|does not exist)/i.test(
      message,
    )
  )
    return 'missing-device';
  if (/executable file not found|exec: "[^"]*": (stat .*)?no such file or directory/i.test(message))
    return 'missing-executable';
  return undefined;
}

/** Start failures that the task's own spec causes, so retrying the same spec cannot help. */
function isSpecProblem(message: string): boolean {
  return /port is already allocated|address already in use|executable file not found|exec: |no such file or directory|permission denied|invalid (reference|argument|port)|OCI runtime create failed/i.test(
    message,
  );
}
