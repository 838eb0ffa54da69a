// Serves RPC requests from the broker: validate, authorize, run the handler, commit, reply once.
import { isMethod, params, WRITE_METHODS, type Method } from '../../shared/api.js';
import type { Clock } from '../../shared/clock.js';
import { errorMessage, isFleetError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import {
  PREFIX,
  RPC_ANY,
  decode,
  encode,
  rpcRequestSchema,
  topics,
  type RpcResponse,
} from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { Principal } from '../broker/acl.js';
import type { Propose } from '../controller.js';
import type { Command } from '../store/commands.js';
import type { Store } from '../store/store.js';
import { handlers, type HandlerContext } from './handlers.js';
import { RateLimitedLog } from '../dispatcher/rate-limited-log.js';

export interface RpcDeps {
  store: Store;
  propose: Propose;
  broker: Broker;
  logger: Logger;
  clock: Clock;
  managerId: string;
  /** Key that encrypts secret values at rest. */
  dataKey: Uint8Array;
  /** Runs after a committed write, e.g. to drop a removed node's connection. */
  afterWrite?: (method: Method, result: unknown) => void;
}

export function serveRpc(deps: RpcDeps): void {
  const complaints = new RateLimitedLog(deps.logger, 5_000, () => deps.clock.now());
  const accepted = new Set([topics.rpc(RPC_ANY), topics.rpc(deps.managerId)]);
  deps.broker.onMessage(`${PREFIX}/rpc/`, (topic, payload, principal, clientId) => {
    if (!clientId || !accepted.has(topic)) return;
    void handle(deps, payload, principal, clientId, complaints);
  });
}

async function handle(
  deps: RpcDeps,
  payload: Buffer,
  principal: Principal | undefined,
  clientId: string,
  complaints: RateLimitedLog,
): Promise<void> {
  const d = decode(rpcRequestSchema, payload);
  if (!d.ok)
    return complaints.warn(`rpc:${clientId}`, 'dropped request', { clientId, reason: d.reason });
  const req = d.value;
  const send = (res: RpcResponse): void => {
    deps.broker.publish(topics.rpcReply(clientId), encode(res), { qos: 1 }).catch((e: unknown) => {
      deps.logger.warn('could not send reply', { clientId, error: errorMessage(e) });
    });
  };
  const fail = (code: string, message: string): void =>
    send({ v: 1, id: req.id, ok: false, error: { code, message } });
  if (principal?.kind !== 'admin') return fail('not_authorized', 'not authorized');
  if (!isMethod(req.method)) return fail('invalid_argument', `unknown method ${req.method}`);
  const method = req.method;
  const parsed = params[method].safeParse(req.params ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(
      'invalid_argument',
      `bad parameters for ${method}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  const key =
    req.idempotencyKey && WRITE_METHODS.has(method)
      ? `${principal.id}:${req.idempotencyKey}`
      : undefined;
  if (key) {
    const earlier = deps.store.requestResponse(key);
    if (earlier !== undefined) return send({ v: 1, id: req.id, ok: true, result: earlier });
  }
  try {
    const ctx: HandlerContext = {
      store: deps.store,
      now: deps.clock.now(),
      managerId: deps.managerId,
      dataKey: deps.dataKey,
    };
    // The schema for `method` produced parsed.data, so it is exactly this handler's input.
    const run = handlers[method] as (
      p: unknown,
      c: HandlerContext,
    ) => { result: unknown; commands?: Command[] };
    const out = run(parsed.data, ctx);
    if (out.commands && out.commands.length > 0) {
      await deps.propose({
        commands: out.commands,
        ...(key ? { request: { key, response: out.result } } : {}),
      });
      deps.afterWrite?.(method, out.result);
    }
    send({ v: 1, id: req.id, ok: true, result: out.result });
  } catch (e) {
    if (isFleetError(e)) return fail(e.code, e.message);
    deps.logger.error('request failed', { method, error: errorMessage(e) });
    fail('internal', `${method} failed: ${storageHint(e)}`);
  }
}

function storageHint(e: unknown): string {
  const msg = errorMessage(e);
  const code = e instanceof Error && 'code' in e ? String(e.code) : '';
  if (/SQLITE_FULL|database or disk is full|ENOSPC/i.test(`${code} ${msg}`))
    return "the manager's disk is full; nothing was written";
  // The transaction was rolled back, but an I/O error says nothing about why: do not guess.
  if (code.startsWith('SQLITE_IOERR'))
    return `the manager could not write its database (${msg}); nothing was written`;
  return msg;
}
