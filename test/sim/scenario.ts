// Runs datadriven scenario files: commands that drive a small Raft cluster by hand, each block followed by its expected output.
import { RaftNode } from '../../manager/raft/core/index.js';
import type {
  ConfChange,
  Entry,
  Message,
  NodeId,
  RaftBootState,
  ReadState,
  Role,
  Snapshot,
} from '../../manager/raft/core/types.js';
import { SafetyChecker } from './checker.js';
import { KvStateMachine, NodeHost, type ConfigTemplate, type HostEvents } from './harness.js';
import { Prng } from './prng.js';
import { formatMessage } from './sim.js';

// --- file format ------------------------------------------------------------------------------
//
// A file is a sequence of blocks. A block is any number of comment ('#') or blank lines, one or
// more command lines, a line '----', then the expected output, which ends at a blank line (or the
// end of the file). Output never contains blank lines.
//
// Commands (node ids are 1, 2, ...; messages wait in one queue until delivered):
//   add-nodes <n> [voters=(1,2,3)] [learners=()] [bootstrap=true] [prevote=] [checkquorum=]
//             [election=] [heartbeat=] [maxsize=] [inflight=] [uncommitted=]
//                                 new nodes: from a shared snapshot with that membership, from
//                                 RaftNode.bootstrap, or empty (to be added later)
//   reset                         forget everything and start a new cluster
//   campaign <id>                 tick <n> [ids...]          run <n> (tick all, then stabilize)
//   propose <id> <data>           propose-conf-change <id> add-voter|add-learner|remove <target>
//   read-index <id> <ctx>         transfer-leader <from> <to>   compact <id> [retain]
//   deliver [from=] [to=] [type=] [count=]   (messages pending now; printed)
//   stabilize [ids...]            deliver until nothing is pending
//   drop [from=] [to=] [type=]    msgs (list pending)
//   partition (1,2) (3)           isolate <ids...>           heal
//   crash <ids...>                restart <ids...> [state-machine=lost]
//   status [ids...]               log [ids...]               kv [ids...]
//   log-level events|msgs|all     raft-log on|off (the core's own trace events)
// Lines starting with '>' are events: role changes, applied entries, read states, snapshots
// installed, and any safety violation the checker sees.

export interface Block {
  /** Comment and blank lines before the commands, kept verbatim for rewriting. */
  preamble: string[];
  commands: string[];
  expected: string[];
  /** 1-based line of the first command, for error messages. */
  line: number;
}

export function parseScenario(text: string): { blocks: Block[]; trailer: string[] } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const blocks: Block[] = [];
  let preamble: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.startsWith('#')) {
      preamble.push(line);
      i++;
      continue;
    }
    const start = i + 1;
    const commands: string[] = [];
    while (i < lines.length && lines[i] !== '----') {
      const cmd = lines[i] as string;
      if (cmd.trim() === '')
        throw new Error(`line ${i + 1}: blank line among commands (missing ----?)`);
      if (!cmd.startsWith('#')) commands.push(cmd);
      i++;
    }
    if (i >= lines.length) throw new Error(`line ${start}: commands without a ---- line`);
    i++; // the separator
    const expected: string[] = [];
    while (i < lines.length && (lines[i] as string).trim() !== '')
      expected.push(lines[i++] as string);
    blocks.push({ preamble, commands, expected, line: start });
    preamble = [];
  }
  return { blocks, trailer: preamble };
}

export function renderScenario(blocks: Block[], outputs: string[][], trailer: string[]): string {
  // Blank lines between blocks live in the next block's preamble (or the trailer).
  const out: string[] = [];
  blocks.forEach((b, i) => out.push(...b.preamble, ...b.commands, '----', ...(outputs[i] ?? [])));
  out.push(...trailer);
  return `${out.join('\n')}\n`;
}

/** Splits "cmd a b key=v key=(x,y)" into positional arguments and options. */
export function parseCommand(line: string): {
  name: string;
  args: string[];
  opts: Map<string, string>;
} {
  const tokens = line.trim().match(/\S+=\([^)]*\)|\([^)]*\)|\S+/g) ?? [];
  const [name = '', ...rest] = tokens;
  const args: string[] = [];
  const opts = new Map<string, string>();
  for (const t of rest) {
    const eq = t.indexOf('=');
    if (eq > 0 && !t.startsWith('(')) opts.set(t.slice(0, eq), t.slice(eq + 1));
    else args.push(t);
  }
  return { name, args, opts };
}

function parseList(s: string | undefined): string[] {
  if (s === undefined) return [];
  const inner = s.replace(/^\(/, '').replace(/\)$/, '').trim();
  return inner === '' ? [] : inner.split(',').map((x) => x.trim());
}

// --- the environment --------------------------------------------------------------------------

/** events: role changes, applies, read states; msgs: also messages delivered, except heartbeats;
 * all: every message. */
type LogLevel = 'events' | 'msgs' | 'all';

interface Filter {
  from?: string;
  to?: string;
  type?: string;
}

/** A hand-driven cluster: messages wait in one FIFO queue until delivered or dropped. */
export class ScenarioEnv implements HostEvents {
  readonly hosts = new Map<NodeId, NodeHost>();
  private pending: Message[] = [];
  private groups = new Map<NodeId, number>();
  private out: string[] = [];
  private level: LogLevel = 'events';
  private checker = new SafetyChecker();
  private lastRole = new Map<NodeId, Role>();
  private nextId = 1;
  private template: ConfigTemplate = {
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 256,
    maxUncommittedSize: 0,
    trace: (event, fields) => this.raftTrace(event, fields),
  };
  /** Whether the core's own trace events are printed (raft-log on|off). */
  private raftLog = false;

  private raftTrace(event: string, fields: Record<string, unknown>): void {
    if (!this.raftLog) return;
    const { id, ...rest } = fields;
    const detail = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    this.emit(`> raft ${String(id)}: ${event}${detail !== '' ? ' ' + detail : ''}`);
  }

  // HostEvents
  send(msg: Message): void {
    this.pending.push(msg);
  }
  role(id: NodeId, role: Role, _leader: NodeId | null, term: number): void {
    if (this.lastRole.get(id) !== role) this.emit(`> ${id} became ${role} at term ${term}`);
    this.lastRole.set(id, role);
    if (role === 'leader') {
      this.checker.observeLeader(id, term);
      const st = this.hosts.get(id)?.storage;
      if (st !== undefined)
        this.checker.observeNewLeader(id, term, st.snapshotIndex(), (i) => st.termAt(i));
    }
  }
  persisted(id: NodeId, prevTerm: number | undefined, entries: readonly Entry[]): void {
    this.checker.observeLog(id, prevTerm, entries);
  }
  snapshotInstalled(id: NodeId, snap: Snapshot): void {
    this.emit(
      `> ${id} installed snapshot ${snap.meta.index}/${snap.meta.term} ${formatConf(snap)}`,
    );
    this.checker.observeSnapshot(id, snap.meta.index, snap.meta.term);
  }
  apply(id: NodeId, e: Entry): void {
    this.emit(`> ${id} applied ${formatEntry(e)}`);
    this.checker.observeApply(id, e);
  }
  readState(id: NodeId, rs: ReadState): void {
    this.emit(`> ${id} read-state ${rs.context} index=${rs.index}`);
  }
  violation(message: string): void {
    this.emit(`> VIOLATION ${message}`);
  }

  private emit(line: string): void {
    this.out.push(line);
  }

  /** Runs one block's commands and returns their output. */
  run(commands: string[]): string[] {
    this.out = [];
    for (const line of commands) {
      const { name, args, opts } = parseCommand(line);
      try {
        this.command(name, args, opts, line);
      } catch (err) {
        this.emit(`error: ${err instanceof Error ? err.message : String(err)}`);
      }
      for (const v of this.checker.violations.splice(0)) this.emit(`> VIOLATION ${v}`);
    }
    return this.out.length > 0 ? this.out.map((l) => (l === '' ? '.' : l)) : ['ok'];
  }

  private host(id: string | undefined): NodeHost {
    if (id === undefined) throw new Error('missing node id');
    const h = this.hosts.get(id);
    if (h === undefined) throw new Error(`no node ${id}`);
    return h;
  }

  private raft(id: string | undefined): RaftNode {
    const h = this.host(id);
    if (h.raft === null) throw new Error(`node ${h.id} is down`);
    return h.raft;
  }

  private processAll(): void {
    for (const h of this.hosts.values()) h.process();
  }

  private command(name: string, args: string[], opts: Map<string, string>, line: string): void {
    switch (name) {
      case 'add-nodes':
        return this.addNodes(Number(args[0] ?? 1), args, opts);
      case 'reset':
        // A fresh, unrelated cluster: forget every node, message and observation.
        this.hosts.clear();
        this.pending = [];
        this.groups.clear();
        this.checker = new SafetyChecker();
        this.lastRole.clear();
        this.nextId = 1;
        return;
      case 'raft-log':
        // raft-log on|off: print the core's own trace of role changes and notable events.
        this.raftLog = args[0] === 'on';
        return;
      case 'log-level': {
        const level = args[0];
        if (level !== 'events' && level !== 'msgs' && level !== 'all')
          throw new Error('log-level events|msgs|all');
        this.level = level;
        return;
      }
      case 'campaign':
        this.raft(args[0]).campaign();
        this.host(args[0]).process();
        return;
      case 'tick': {
        // tick <n> [ids...]: every listed node (default: all live ones) n times.
        const n = Number(args[0] ?? 1);
        const ids = args.length > 1 ? args.slice(1) : [...this.hosts.keys()];
        for (let i = 0; i < n; i++) {
          for (const id of ids) {
            const h = this.host(id);
            if (h.raft === null) continue;
            h.raft.tick();
            h.process();
          }
        }
        return;
      }
      case 'run': {
        // run <n>: n rounds of ticking every live node, each followed by full delivery.
        const n = Number(args[0] ?? 1);
        for (let i = 0; i < n; i++) {
          for (const h of this.hosts.values()) {
            h.raft?.tick();
            h.process();
          }
          this.stabilize([]);
        }
        return;
      }
      case 'propose': {
        // The data is the rest of the line, verbatim ("propose 1 x=1" proposes "x=1").
        const data = line.trim().split(/\s+/).slice(2).join(' ');
        const res = this.raft(args[0]).propose(data);
        this.emit(
          res.ok
            ? `ok index=${res.index} term=${res.term}`
            : `refused ${res.reason} (leader ${res.leader ?? 'none'})`,
        );
        this.host(args[0]).process();
        return;
      }
      case 'propose-conf-change': {
        const [id, op, target] = args;
        if (op !== 'add-voter' && op !== 'add-learner' && op !== 'remove')
          throw new Error(`bad op ${String(op)}`);
        if (target === undefined) throw new Error('missing target');
        const cc: ConfChange = { op, id: target };
        const res = this.raft(id).proposeConfChange(cc);
        this.emit(
          res.ok
            ? `ok index=${res.index} term=${res.term}`
            : `refused ${res.reason} (leader ${res.leader ?? 'none'})`,
        );
        this.host(id).process();
        return;
      }
      case 'read-index': {
        const res = this.raft(args[0]).readIndex(args[1] ?? 'read');
        this.emit(res.ok ? 'ok' : `refused ${res.reason} (leader ${res.leader ?? 'none'})`);
        this.host(args[0]).process();
        return;
      }
      case 'transfer-leader': {
        const res = this.raft(args[0]).transferLeadership(args[1] ?? '');
        this.emit(res.ok ? 'ok' : `refused ${res.reason}`);
        this.host(args[0]).process();
        return;
      }
      case 'compact': {
        const h = this.host(args[0]);
        const retain = Number(args[1] ?? 0);
        if (!h.compact(retain)) this.emit('nothing to compact');
        else
          this.emit(
            `snapshot at ${h.sm.applied}/${h.storage.termAt(h.sm.applied) ?? '?'}, log from ${h.storage.entries[0]?.index ?? '-'}`,
          );
        h.process();
        return;
      }
      case 'deliver':
        return this.deliver(filterOf(opts), Number(opts.get('count') ?? Infinity), true);
      case 'stabilize':
        return this.stabilize(args);
      case 'msgs':
        for (const m of this.pending) this.emit(formatMessage(m));
        if (this.pending.length === 0) this.emit('no messages');
        return;
      case 'drop': {
        const f = filterOf(opts);
        const keep: Message[] = [];
        for (const m of this.pending) {
          if (matches(m, f)) this.emit(`dropped ${formatMessage(m)}`);
          else keep.push(m);
        }
        this.pending = keep;
        return;
      }
      case 'partition': {
        // partition (1,2) (3): each group talks only within itself.
        this.groups.clear();
        args.forEach((g, i) => {
          for (const id of parseList(g)) this.groups.set(id, i + 1);
        });
        return;
      }
      case 'isolate':
        for (const id of args) this.groups.set(id, 1000 + this.groups.size);
        return;
      case 'heal':
        this.groups.clear();
        return;
      case 'crash':
        for (const id of args) {
          this.host(id).crash();
          this.lastRole.delete(id);
          this.pending = this.pending.filter((m) => m.to !== id);
        }
        return;
      case 'restart':
        for (const id of args) {
          const h = this.host(id);
          h.restart(opts.get('state-machine') !== 'lost');
          h.process();
        }
        return;
      case 'status':
        for (const id of args.length > 0 ? args : [...this.hosts.keys()]) this.status(id);
        return;
      case 'kv':
        // The state machine's contents and applied index.
        for (const id of args.length > 0 ? args : [...this.hosts.keys()]) {
          const sm = this.host(id).sm;
          const pairs = [...sm.kv.entries()].sort().map(([k, v]) => `${k}=${v}`);
          this.emit(
            `${id}: applied=${sm.applied} ${pairs.length > 0 ? pairs.join(' ') : '(empty)'}`,
          );
        }
        return;
      case 'log':
        for (const id of args.length > 0 ? args : [...this.hosts.keys()]) this.printLog(id);
        return;
      default:
        throw new Error(`unknown command ${name}`);
    }
  }

  private addNodes(n: number, _args: string[], opts: Map<string, string>): void {
    const t = this.template;
    const bool = (k: string, d: boolean): boolean => (opts.has(k) ? opts.get(k) === 'true' : d);
    const num = (k: string, d: number): number => (opts.has(k) ? Number(opts.get(k)) : d);
    this.template = {
      electionTick: num('election', t.electionTick),
      heartbeatTick: num('heartbeat', t.heartbeatTick),
      preVote: bool('prevote', t.preVote),
      checkQuorum: bool('checkquorum', t.checkQuorum),
      maxSizePerMsg: num('maxsize', t.maxSizePerMsg),
      maxInflightMsgs: num('inflight', t.maxInflightMsgs),
      maxUncommittedSize: num('uncommitted', t.maxUncommittedSize),
      trace: t.trace,
    };
    const voters = parseList(opts.get('voters'));
    const learners = parseList(opts.get('learners'));
    for (let i = 0; i < n; i++) {
      const id = String(this.nextId++);
      // Each node's election timeout is randomized, but from a stream fixed by its id.
      const rng = new Prng(Number(id) * 7919);
      const host = new NodeHost(id, this.template, () => rng.next(), this);
      this.hosts.set(id, host);
      let boot: RaftBootState;
      if (opts.get('bootstrap') === 'true') {
        boot = RaftNode.bootstrap(id);
      } else if (voters.length > 0 || learners.length > 0) {
        // Every initial member starts from the same snapshot at index 1 holding the membership.
        const sm = new KvStateMachine();
        boot = {
          hardState: { term: 1, vote: null, commit: 1 },
          snapshot: {
            meta: { index: 1, term: 1, conf: { voters, learners } },
            data: sm.serialize(),
          },
          entries: [],
          applied: 1,
        };
      } else {
        boot = { hardState: { term: 0, vote: null, commit: 0 }, entries: [], applied: 0 };
      }
      host.start(boot);
      this.lastRole.set(id, 'follower');
      host.process();
    }
  }

  private reachable(m: Message): boolean {
    return (this.groups.get(m.from) ?? 0) === (this.groups.get(m.to) ?? 0);
  }

  /** Delivers the messages pending now that match `f` (not those they cause), at most `max`. */
  private deliver(f: Filter, max: number, always: boolean): void {
    const batch: Message[] = [];
    const keep: Message[] = [];
    for (const m of this.pending) {
      if (batch.length < max && matches(m, f)) batch.push(m);
      else keep.push(m);
    }
    this.pending = keep;
    for (const m of batch) {
      const print =
        always ||
        this.level === 'all' ||
        // Plain heartbeats are noise; those carrying a ReadIndex context are the point of a read.
        (this.level === 'msgs' &&
          ((m.type !== 'heartbeat' && m.type !== 'heartbeat-resp') || m.context !== undefined));
      const host = this.hosts.get(m.to);
      if (!this.reachable(m) || host === undefined || host.raft === null) {
        if (print) this.emit(`dropped ${formatMessage(m)}`);
        const sender = this.hosts.get(m.from)?.raft;
        if (sender !== null && sender !== undefined) {
          if (m.type === 'snap') sender.reportSnapshot(m.to, false);
          sender.reportUnreachable(m.to);
        }
        this.processAll();
        continue;
      }
      if (print) this.emit(formatMessage(m));
      host.raft.step(m);
      host.process();
      if (m.type === 'snap') {
        this.hosts.get(m.from)?.raft?.reportSnapshot(m.to, true);
        this.processAll();
      }
    }
  }

  private stabilize(ids: string[]): void {
    const f: Filter = {};
    for (let round = 0; round < 1000; round++) {
      this.processAll();
      const relevant = this.pending.filter(
        (m) => ids.length === 0 || ids.includes(m.to) || ids.includes(m.from),
      );
      if (relevant.length === 0) return;
      if (ids.length === 0) this.deliver(f, Infinity, false);
      else {
        for (const id of ids) {
          this.deliver({ to: id }, Infinity, false);
          this.deliver({ from: id }, Infinity, false);
        }
      }
    }
    this.emit('error: no quiescence after 1000 rounds');
  }

  private status(id: string): void {
    const h = this.host(id);
    if (h.raft === null) {
      this.emit(`${id}: down`);
      return;
    }
    const s = h.raft.status();
    this.emit(
      `${id}: ${s.role} term=${s.term} vote=${s.vote ?? '-'} leader=${s.leader ?? '-'} commit=${s.commit} ` +
        `applied=${s.applied} log=[${s.firstIndex},${s.lastIndex}] voters=(${s.conf.voters.join(',')})` +
        (s.conf.learners.length > 0 ? ` learners=(${s.conf.learners.join(',')})` : '') +
        (s.leadTransferee !== null ? ` transferring-to=${s.leadTransferee}` : ''),
    );
    if (s.progress !== undefined) {
      for (const [peer, p] of Object.entries(s.progress).sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        this.emit(
          `  ${peer}: ${p.state} match=${p.match} next=${p.next}${p.learner ? ' learner' : ''}`,
        );
      }
    }
  }

  private printLog(id: string): void {
    const st = this.host(id).storage;
    const parts: string[] = [];
    if (st.snapshot !== undefined)
      parts.push(`snapshot ${st.snapshot.meta.index}/${st.snapshot.meta.term}`);
    for (const e of st.entries) parts.push(formatEntry(e));
    this.emit(
      `${id}: ${parts.length > 0 ? parts.join(', ') : 'empty'} (commit ${st.hardState.commit})`,
    );
  }
}

function filterOf(opts: Map<string, string>): Filter {
  const f: Filter = {};
  const from = opts.get('from');
  const to = opts.get('to');
  const type = opts.get('type');
  if (from !== undefined) f.from = from;
  if (to !== undefined) f.to = to;
  if (type !== undefined) f.type = type;
  return f;
}

function matches(m: Message, f: Filter): boolean {
  return (
    (f.from === undefined || m.from === f.from) &&
    (f.to === undefined || m.to === f.to) &&
    (f.type === undefined || m.type === f.type)
  );
}

function formatEntry(e: Entry): string {
  if (e.type === 'conf') {
    const cc = JSON.parse(e.data) as ConfChange;
    return `${e.index}/${e.term} ${cc.op} ${cc.id}`;
  }
  return `${e.index}/${e.term} ${e.data === '' ? '(empty)' : e.data}`;
}

function formatConf(s: Snapshot): string {
  const c = s.meta.conf;
  return (
    `voters=(${c.voters.join(',')})` +
    (c.learners.length > 0 ? ` learners=(${c.learners.join(',')})` : '')
  );
}

/** Runs a whole file; returns the actual outputs, one per block. */
export function runScenario(text: string): {
  blocks: Block[];
  outputs: string[][];
  trailer: string[];
} {
  const { blocks, trailer } = parseScenario(text);
  const env = new ScenarioEnv();
  const outputs = blocks.map((b) => env.run(b.commands));
  return { blocks, outputs, trailer };
}
