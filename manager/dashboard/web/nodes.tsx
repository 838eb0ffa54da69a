// The node table (one page at a time, so 1,000 nodes draw as fast as 50) and the selected node's tasks.
import { useEffect, useState } from 'preact/hooks';
import { api, type NodeRow, type TaskRow } from './feed-client.js';
import { Plot } from './plot.js';
import type { ClusterState } from './state.js';

const PAGE_ROWS = 50;

export function NodesPanel(p: {
  state: ClusterState;
  readOnly: boolean;
  selected: string | null;
  select: (id: string | null) => void;
  report: (message: string) => void;
}) {
  const [filter, setFilter] = useState('');
  const [page, setPage] = useState(0);
  const all = p.state.sortedNodes(true);
  const wanted = filter.trim().toLowerCase();
  const rows = wanted
    ? all.filter((n) => n.name.toLowerCase().includes(wanted) || n.addr.includes(wanted))
    : all;
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
  const at = Math.min(page, pages - 1);
  const down = all.filter((n) => n.status !== 'ready').length;
  return (
    <section class="panel" id="nodes">
      <header>
        <h2>
          Nodes{' '}
          <small>
            {all.length} · {down} not ready
          </small>
        </h2>
        <input
          type="search"
          placeholder="filter by name or address"
          value={filter}
          onInput={(e) => {
            setFilter((e.target as HTMLInputElement).value);
            setPage(0);
          }}
        />
      </header>
      <table>
        <thead>
          <tr>
            <th>name</th>
            <th>status</th>
            <th>availability</th>
            <th>role</th>
            <th>address</th>
            <th>agent</th>
            <th>engine</th>
            <th>arch</th>
            <th>tasks</th>
            <th>CPU</th>
            <th>°C</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.slice(at * PAGE_ROWS, (at + 1) * PAGE_ROWS).map((n) => (
            <NodeLine key={n.id} n={n} {...p} />
          ))}
        </tbody>
      </table>
      {pages > 1 && (
        <nav class="pager">
          <button disabled={at === 0} onClick={() => setPage(at - 1)}>
            ‹
          </button>
          page {at + 1} of {pages}
          <button disabled={at >= pages - 1} onClick={() => setPage(at + 1)}>
            ›
          </button>
        </nav>
      )}
      {p.selected && p.state.nodes.get(p.selected) && (
        <NodeDetail node={p.state.nodes.get(p.selected) as NodeRow} state={p.state} />
      )}
    </section>
  );
}

function NodeLine(p: {
  n: NodeRow;
  readOnly: boolean;
  selected: string | null;
  select: (id: string | null) => void;
  report: (message: string) => void;
}) {
  const { n } = p;
  const act = (action: string): void => {
    api.act({ action, node: n.id }).then(
      () => p.report(`${n.name}: ${action} asked`),
      (e: Error) => p.report(`${n.name}: ${e.message}`),
    );
  };
  const cls = `${n.status === 'ready' ? 'ok' : 'down'}${p.selected === n.id ? ' selected' : ''}`;
  return (
    <tr
      class={cls}
      data-node={n.name}
      data-status={n.status}
      data-avail={n.avail}
      onClick={() => p.select(n.id)}
    >
      <td>{n.name}</td>
      <td title={n.msg}>{n.status}</td>
      <td>{n.avail}</td>
      <td>{n.role}</td>
      <td>{n.addr}</td>
      <td>{n.ver}</td>
      <td>{n.engine}</td>
      <td>{n.arch}</td>
      <td>{n.tasks}</td>
      <td>{n.cpu === null ? '' : `${n.cpu}%`}</td>
      <td>{n.temp === null ? '' : n.temp}</td>
      <td>
        {!p.readOnly &&
          (n.avail === 'drain' ? (
            <button onClick={(e) => (e.stopPropagation(), act('activate'))}>activate</button>
          ) : (
            <button onClick={(e) => (e.stopPropagation(), act('drain'))}>drain</button>
          ))}
      </td>
    </tr>
  );
}

function NodeDetail(p: { node: NodeRow; state: ClusterState }) {
  const [tasks, setTasks] = useState<TaskRow[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const { node } = p;
  // Tasks are fetched for the one node shown, again whenever its row changes.
  useEffect(() => {
    api.tasks(node.id).then(setTasks, (e: Error) => setProblem(e.message));
  }, [node]);
  const h = p.state.nodeHistory.get(node.id) ?? [];
  return (
    <div class="detail">
      <h3>
        {node.name} <small>{node.msg}</small>
      </h3>
      {h.length > 1 ? (
        <Plot
          title={`${node.name}: CPU and temperature`}
          data={[h.map((x) => x.t), h.map((x) => x.cpu), h.map((x) => x.temp)]}
          series={[
            { label: 'CPU %', stroke: '#2563eb' },
            { label: '°C', stroke: '#dc2626', scale: 'right' },
          ]}
          leftLabel="CPU %"
          rightLabel="°C"
        />
      ) : (
        <p class="muted">
          {h.length === 0
            ? 'no usage figures from this node yet'
            : 'one usage summary so far: the plot starts with the next'}
        </p>
      )}
      {problem && <p class="error">{problem}</p>}
      <table class="tasks">
        <thead>
          <tr>
            <th>service</th>
            <th>slot</th>
            <th>state</th>
            <th>desired</th>
            <th>message</th>
          </tr>
        </thead>
        <tbody>
          {(tasks ?? []).map((t) => (
            <tr key={t.id} data-task={`${t.service}.${t.slot}`}>
              <td>{t.service}</td>
              <td>{t.slot}</td>
              <td>{t.state}</td>
              <td>{t.desired}</td>
              <td>{t.msg}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
