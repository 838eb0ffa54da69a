// The cluster plots, the events panel and the log tail; a panel whose source the manager lacks says so.
import { useEffect, useState } from 'preact/hooks';
import { openFeed, type FeedEvent, type LogLine } from './feed-client.js';
import { Plot } from './plot.js';
import type { ClusterState } from './state.js';

export function ClusterPlots(p: { state: ClusterState }) {
  const s = p.state.series;
  // A plot of one point has no time axis to speak of.
  if (s.length < 2)
    return (
      <section class="panel plots">
        <p class="muted">plots start after two seconds</p>
      </section>
    );
  return (
    <section class="panel plots">
      <Plot
        title="Tasks"
        data={[s.map((x) => x.t), s.map((x) => x.running), s.map((x) => x.pending)]}
        series={[
          { label: 'running', stroke: '#16a34a' },
          { label: 'pending', stroke: '#d97706' },
        ]}
        leftLabel="tasks"
      />
      <Plot
        title="Heartbeat lag"
        data={[s.map((x) => x.t), s.map((x) => x.lagP50), s.map((x) => x.lagMax)]}
        series={[
          { label: 'median ms', stroke: '#2563eb' },
          { label: 'max ms', stroke: '#dc2626' },
        ]}
        leftLabel="ms"
      />
    </section>
  );
}

const EVENTS_KEPT = 300;
const LOG_LINES_KEPT = 500;

export function EventsPanel(p: { available: boolean }) {
  const [events, setEvents] = useState<FeedEvent[]>([]);
  useEffect(() => {
    if (!p.available) return;
    return openFeed(
      ['events'],
      { events: (d) => setEvents((old) => [...old, ...(d as FeedEvent[])].slice(-EVENTS_KEPT)) },
      () => undefined,
    );
  }, [p.available]);
  return (
    <section class="panel" id="events">
      <header>
        <h2>Events</h2>
      </header>
      {!p.available ? (
        <p class="muted">not available: this manager has no event feed</p>
      ) : (
        <ol class="events">
          {[...events].reverse().map((e, i) => (
            <li key={`${e.at}-${i}`}>
              <time>{new Date(e.at).toLocaleTimeString()}</time> <b>{e.kind}</b> {e.subject}:{' '}
              {e.message}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function LogsPanel(p: { available: boolean; service: string | null }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    setLines([]);
    setProblem(null);
    if (!p.available || !p.service) return;
    const topic = `logs/${p.service}`;
    return openFeed(
      [topic],
      {
        [topic]: (d) => {
          if (d && typeof d === 'object' && 'error' in d) return setProblem(String(d.error));
          setLines((old) => [...old, d as LogLine].slice(-LOG_LINES_KEPT));
        },
      },
      () => undefined,
    );
  }, [p.available, p.service]);
  return (
    <section class="panel" id="logs">
      <header>
        <h2>Logs {p.service && <small>{p.service}</small>}</h2>
      </header>
      {!p.available ? (
        <p class="muted">not available: this manager cannot stream logs</p>
      ) : !p.service ? (
        <p class="muted">pick a service by its name to follow its output</p>
      ) : (
        <pre class="logs">
          {problem && <span class="error">{problem}\n</span>}
          {lines.map((l) => `${l.node} ${l.task} ${l.line}\n`).join('')}
        </pre>
      )}
    </section>
  );
}
