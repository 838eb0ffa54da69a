// Expected errors carry a stable code so they cross the wire and print as one clean line.
export type ErrorCode =
  | 'not_found'
  | 'already_exists'
  | 'invalid_argument'
  | 'not_authorized'
  | 'unavailable'
  | 'conflict'
  /** Sent to a manager that does not lead: the error carries where the leader is. */
  | 'not_leader'
  /** No leader can be elected or reached: too few managers are reachable. */
  | 'no_quorum'
  | 'internal';

export class FleetError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FleetError';
  }
}

export const notFound = (what: string): FleetError =>
  new FleetError('not_found', `${what} not found`);
export const alreadyExists = (what: string): FleetError =>
  new FleetError('already_exists', `${what} already exists`);
export const invalidArgument = (msg: string): FleetError => new FleetError('invalid_argument', msg);
export const notAuthorized = (msg = 'not authorized'): FleetError =>
  new FleetError('not_authorized', msg);

export function isFleetError(e: unknown): e is FleetError {
  return e instanceof FleetError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** For the default branch of an exhaustive switch: a case left unhandled fails to compile. */
export function assertNever(x: never): never {
  throw new Error(`invariant: unhandled case ${JSON.stringify(x)}`);
}
