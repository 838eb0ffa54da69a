// The log channel over MQTT: topics and messages between the CLI, the manager that relays, and the agents that read logs.
import { z } from 'zod';
import { PREFIX } from './protocol.js';

/**
 * Who talks on which topic. The CLI asks the manager (req) and reads merged lines (res); the
 * manager tells an agent which logs to send (ctl) and the agent sends them (data). Nothing
 * flows on data while nobody follows: agents publish only for a stream someone renews.
 */
export const logTopics = {
  request: (clientId: string) => `${PREFIX}/logs/${clientId}/req`,
  response: (clientId: string) => `${PREFIX}/logs/${clientId}/res`,
  control: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/logs-ctl`,
  data: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/logs`,
};

/** The client id of a CLI request or response topic, or null for any other topic. */
export function logTopicClient(topic: string, kind: 'req' | 'res'): string | null {
  const prefix = `${PREFIX}/logs/`;
  if (!topic.startsWith(prefix) || !topic.endsWith(`/${kind}`)) return null;
  const id = topic.slice(prefix.length, -kind.length - 1);
  return id.length > 0 && !/[/+#]/.test(id) ? id : null;
}

/** The node id of an agent's data topic, or null for any other topic. */
export function logDataNode(topic: string): string | null {
  const prefix = `${PREFIX}/nodes/`;
  if (!topic.startsWith(prefix) || !topic.endsWith('/logs')) return null;
  const id = topic.slice(prefix.length, -'/logs'.length);
  return id.length > 0 && !/[/+#]/.test(id) ? id : null;
}

/** How often the follower renews its interest, and how long a renewal holds. */
export const RENEW_MS = 2_000;
export const LEASE_MS = 6_000;
/** Largest data or response payload; a line longer than MAX_LINE_CHARS is cut. */
export const LOG_PAYLOAD_MAX_BYTES = 64 * 1024;
export const MAX_LINE_CHARS = 16 * 1024;
/** The agent's default budget for log bytes, all streams of the node together. */
export const DEFAULT_LOG_BUDGET = 256 * 1024;

const id = z.string().min(1).max(64);
const ref = z.string().min(1).max(128);
const ms = z.number().int().min(0);

/** What to read of each log: like `docker logs`. */
export const readOptionsSchema = z.object({
  follow: z.boolean().default(false),
  /** Lines from the end of each log (absent: all). */
  tail: z.number().int().min(0).max(1_000_000).optional(),
  /** Only lines written at or after this time (ms since the epoch). */
  since: ms.optional(),
});
export type ReadOptions = z.infer<typeof readOptionsSchema>;

export const logRequestSchema = z.discriminatedUnion('op', [
  z.object({
    v: z.literal(1),
    op: z.literal('open'),
    id,
    target: z.object({ kind: z.enum(['service', 'task', 'node']), ref }),
    read: readOptionsSchema,
  }),
  z.object({ v: z.literal(1), op: z.literal('renew'), id }),
  z.object({ v: z.literal(1), op: z.literal('close'), id }),
]);
export type LogRequest = z.infer<typeof logRequestSchema>;

/** One source of lines in a stream: a task on a node, or a node's agent. */
export const partSchema = z.object({
  key: z.number().int().min(0),
  /** web.2 or the node's name for an agent's own log. */
  name: z.string().max(256),
  /** The task id; absent for an agent's own log. */
  taskId: z.string().max(64).optional(),
  node: z.string().max(256),
});
export type LogPart = z.infer<typeof partSchema>;

/** One line: its part, its time (ms), stderr or not, and its text. `m` marks a line fleet wrote. */
export const lineSchema = z.object({
  k: z.number().int().min(0),
  t: z.number(),
  e: z.boolean().optional(),
  m: z.boolean().optional(),
  x: z.string().max(MAX_LINE_CHARS + 64),
});
export type LogLine = z.infer<typeof lineSchema>;

export const logResponseSchema = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(1), id, kind: z.literal('opened'), parts: z.array(partSchema) }),
  z.object({ v: z.literal(1), id, kind: z.literal('lines'), lines: z.array(lineSchema) }),
  /** Every part ended (without follow, once each log was read to its end). */
  z.object({ v: z.literal(1), id, kind: z.literal('end') }),
  z.object({
    v: z.literal(1),
    id,
    kind: z.literal('error'),
    code: z.string().max(64),
    message: z.string().max(2048),
  }),
]);
export type LogResponse = z.infer<typeof logResponseSchema>;

/** A part as the agent reads it: a task's log, or (no taskId) the agent's own. */
export const sourceSchema = z.object({ key: z.number().int().min(0), taskId: id.optional() });
export type LogSource = z.infer<typeof sourceSchema>;

export const logControlSchema = z.discriminatedUnion('op', [
  z.object({
    v: z.literal(1),
    op: z.literal('start'),
    id,
    sources: z.array(sourceSchema).min(1).max(1000),
    read: readOptionsSchema,
  }),
  z.object({ v: z.literal(1), op: z.literal('renew'), ids: z.array(id).max(1000) }),
  z.object({ v: z.literal(1), op: z.literal('stop'), id }),
]);
export type LogControl = z.infer<typeof logControlSchema>;

export const logDataSchema = z.object({
  v: z.literal(1),
  id,
  lines: z.array(lineSchema).max(10_000).default([]),
  /** Parts whose reading has ended (without follow: read to the end; or the log is gone). */
  ended: z.array(z.number().int().min(0)).max(1000).default([]),
  /** Sent once, first: the agent took the stream on. */
  started: z.boolean().optional(),
  /** The agent no longer has this stream (it reconnected meanwhile): its parts end here. */
  gone: z.boolean().optional(),
});
export type LogData = z.infer<typeof logDataSchema>;

/** Bytes a line costs against the budget: its text plus a fixed share of the envelope. */
export const lineCost = (text: string): number => Buffer.byteLength(text) + 24;
