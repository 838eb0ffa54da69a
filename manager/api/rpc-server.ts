// Serves RPC requests from the broker: validate, authorize, run the handler, commit, reply once.
import { isMethod, params, WRITE_METHODS, type Method } from '../../shared/api.js';
import { LOCAL_METHODS, type LocalMethod } from '../../shared/api-chaos.js';
import type { Clock } from '../../shared/clock.js';
import { FleetError, errorMessage, isFleetError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import {
  PREFIX,
  RPC_ANY,
  decode,
  encode,
  rpcRequestSchema,
  topics,
  type LeaderInfo,
  type RpcResponse,
} from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { Principal } from '../broker/acl.js';
import type { Propose } from '../leader/controller.js';
import type { Command } from '../store/commands.js';
import { retryOnConflict, storageFailure } from '../store/conflict.js';
import type { Store } from '../store/store.js';
import type { HandlerContext } from './context.js';
import { handlers } from './handlers.js';
import type { IngressStatsView } from '../ingress/stats.js';
import type { RaftView } from './views.js';
import type { ImagePresenceView } from '../images/presence.js';
import type { UsageBookView } from '../observe/usage-book.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';

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
  /** Leadership, for redirecting writes and making reads linearizable. */
  gate: ClusterGate;
  /** The Raft group as this manager sees it, for the views of managers. */
  raft?: RaftView;
  /** The routing mesh's traffic counters, for `service inspect`. */
  ingressStats?: IngressStatsView;
  /** The blobs this manager stores, for image.create's check. */
  blobs?: { has(digest: string): boolean };
  imagePresence?: ImagePresenceView;
  /** The nodes' latest usage summaries (the leader's). */
  usage?: UsageBookView;
  /** Methods this manager answers itself, leader or not (shared/api-chaos.ts). */
  local?: (method: LocalMethod, input: unknown) => Promise<unknown>;
}

/** What the RPC server asks of the Raft group. */
export interface ClusterGate {
  isLeader(): boolean;
  leaderInfo(): LeaderInfo;
  /** Resolves once this leader's store holds every write committed before the call. */
  readBarrier(): Promise<void>;
  /** "no quorum: 1 of 3 managers reachable" or null when a leader is known. */
  quorumProblem(): string | null;
  /** Why no write can be taken here at all (say, a full disk), or null. */
  writeBlocker(): FleetError | null;
}

/** The same methods called from inside the manager (the dashboard's actions), as the admin. */
export interface LocalApi {
  call<M extends Method>(method: M, input: unknown): Promise<unknown>;
}

export function serveRpc(deps: RpcDeps): LocalApi {
  const complaints = new RateLimitedLog(deps.logger, 5_000, deps.clock);
  const accepted = new Set([topics.rpc(RPC_ANY), topics.rpc(deps.managerId)]);
  deps.broker.onMessage(`${PREFIX}/rpc/`, (topic, payload, principal, clientId) => {
    if (!clientId || !accepted.has(topic)) return;
    void handle(deps, payload, principal, clientId, complaints);
  });
  return {
    call: async (method, input) => {
      const parsed = params[method].safeParse(input);
      if (!parsed.success) throw new FleetError('invalid_argument', `bad parameters for ${method}`);
      if (isLocal(method)) return callLocal(deps, method, parsed.data);
      if (WRITE_METHODS.has(method)) return write(deps, method, parsed.data, undefined);
      await readFence(deps, false);
      return runHandler(deps, method, parsed.data).result;
    },
  };
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
  const fail = (code: string, message: string): void => {
    const leader =
      code === 'not_leader' || code === 'no_quorum' ? deps.gate.leaderInfo() : undefined;
    send({ v: 1, id: req.id, ok: false, error: { code, message, ...(leader ? { leader } : {}) } });
  };
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
  try {
    if (isLocal(method))
      return send({
        v: 1,
        id: req.id,
        ok: true,
        result: await callLocal(deps, method, parsed.data),
      });
    if (WRITE_METHODS.has(method)) {
      const key = req.idempotencyKey ? `${principal.id}:${req.idempotencyKey}` : undefined;
      const result = await write(deps, method, parsed.data, key);
      return send({ v: 1, id: req.id, ok: true, result });
    }
    const warning = await readFence(deps, req.stale === true);
    const result = runHandler(deps, method, parsed.data).result;
    send({ v: 1, id: req.id, ok: true, result, ...(warning ? { stale: true, warning } : {}) });
  } catch (e) {
    if (isFleetError(e)) return fail(e.code, e.message);
    deps.logger.error('request failed', { method, error: errorMessage(e) });
    fail('internal', `${method} failed: ${storageHint(e)}`);
  }
}

/** Runs a write on the leader: handler, commit, answer; again on fresh state after a conflict. */
async function write(
  deps: RpcDeps,
  method: Method,
  input: unknown,
  key: string | undefined,
): Promise<unknown> {
  const blocked = deps.gate.writeBlocker();
  if (blocked) throw blocked;
  if (!deps.gate.isLeader()) throw notLeader(deps);
  return retryOnConflict(async () => {
    // Checked on every attempt: a copy of this request sent earlier may have committed since.
    if (key) {
      const earlier = deps.store.requestResponse(key);
      if (earlier !== undefined) return earlier;
    }
    const out = runHandler(deps, method, input);
    if (out.commands && out.commands.length > 0) {
      await deps.propose({
        commands: out.commands,
        ...(key ? { request: { key, response: out.result } } : {}),
      });
      deps.afterWrite?.(method, out.result);
    }
    return out.result;
  });
}

/**
 * Makes a read linearizable: the leader confirms it still leads and has applied everything
 * committed. A follower sends the client to the leader; without any leader, or when asked for a
 * fast read, the local copy answers with a warning that it may be stale.
 */
async function readFence(deps: RpcDeps, stale: boolean): Promise<string | null> {
  const { gate } = deps;
  if (stale) {
    if (gate.isLeader()) return null;
    return gate.quorumProblem() ?? 'served by a follower without a quorum check: it may be stale';
  }
  if (!gate.isLeader()) {
    if (gate.leaderInfo().leader) throw notLeader(deps);
    const why = gate.quorumProblem() ?? 'no leader yet (an election is running)';
    return `${why}: this answer may be stale`;
  }
  try {
    await gate.readBarrier();
    return null;
  } catch (e) {
    if (isFleetError(e) && e.code === 'no_quorum') return `${e.message}: this answer may be stale`;
    throw e;
  }
}

function notLeader(deps: RpcDeps): FleetError {
  const leader = deps.gate.leaderInfo().leader;
  const quorum = leader ? null : deps.gate.quorumProblem();
  if (quorum) return new FleetError('no_quorum', `${quorum}: nothing was written`);
  const where = leader ? `the leader is ${leader.id} at ${leader.address}` : 'no leader yet';
  return new FleetError('not_leader', `this manager does not lead: ${where}`);
}

function runHandler(
  deps: RpcDeps,
  method: Method,
  input: unknown,
): { result: unknown; commands?: Command[] } {
  const ctx: HandlerContext = {
    store: deps.store,
    now: deps.clock.now(),
    managerId: deps.managerId,
    dataKey: deps.dataKey,
    ...(deps.raft ? { raft: deps.raft } : {}),
    ...(deps.ingressStats ? { ingressStats: deps.ingressStats } : {}),
    ...(deps.blobs ? { blobs: deps.blobs } : {}),
    ...(deps.imagePresence ? { imagePresence: deps.imagePresence } : {}),
    ...(deps.usage ? { usage: deps.usage } : {}),
  };
  // The schema for `method` produced the input, so it is exactly this handler's input.
  const run = handlers[method] as (
    p: unknown,
    c: HandlerContext,
  ) => { result: unknown; commands?: Command[] };
  return run(input, ctx);
}

const isLocal = (m: Method): m is LocalMethod => (LOCAL_METHODS as readonly string[]).includes(m);

function callLocal(deps: RpcDeps, method: LocalMethod, input: unknown): Promise<unknown> {
  if (!deps.local) throw new FleetError('unavailable', `${method} is not served by this manager`);
  return deps.local(method, input);
}

function storageHint(e: unknown): string {
  return storageFailure(e, 'its database') ?? errorMessage(e);
}
