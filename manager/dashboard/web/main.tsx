// The dashboard page: sign-in, then the live view of nodes, services, plots, events and logs.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, openFeed, type Me, type SeriesSample, type Snapshot } from './feed-client.js';
import { NodesPanel } from './nodes.js';
import { ClusterPlots, EventsPanel, LogsPanel } from './panels.js';
import { ServicesPanel } from './services.js';
import { ClusterState } from './state.js';

function App() {
  const [state] = useState(() => new ClusterState());
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  // Bumped by a sign-in: who we are is asked again and the feed opened again.
  const [session, setSession] = useState(0);
  const connected = useFeed(state, session, () => setMe(null));
  useEffect(() => {
    api.me().then(setMe, () => setMe(null));
  }, [session]);
  if (me === undefined) return <p class="muted">loading…</p>;
  if (me === null) return <SignIn done={() => setSession((n) => n + 1)} />;
  return <Live me={me} state={state} connected={connected} signedOut={() => setMe(null)} />;
}

/**
 * The live feed into `state`, opened at once beside the question of who we are (one round trip
 * less on the first load). A refusal that lasts means the session ended.
 */
function useFeed(state: ClusterState, session: number, signedOut: () => void): boolean {
  const [connected, setConnected] = useState(false);
  const [attempt, setAttempt] = useState(0);
  useEffect(
    () =>
      openFeed(
        ['state', 'series'],
        {
          snapshot: (d) => state.applySnapshot(d as Snapshot),
          state: (d) => state.applyDiff(d as Parameters<ClusterState['applyDiff']>[0]),
          series: (d) => state.addSample(d as SeriesSample),
        },
        (open, closed) => {
          setConnected(open);
          // Refused for good: signed out (revoked token, manager restarted) unless it says otherwise.
          if (closed)
            api
              .me()
              .then(() => window.setTimeout(() => setAttempt((a) => a + 1), 2_000), signedOut);
        },
      ),
    [state, session, attempt],
  );
  return connected;
}

function SignIn(p: { done: () => void }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <form
      class="signin"
      onSubmit={(e) => {
        e.preventDefault();
        api.signIn(token.trim()).then(p.done, (err: Error) => setProblem(err.message));
      }}
    >
      <h1>fleet</h1>
      <label>
        Dashboard token <small>(fleet dashboard token)</small>
        <input
          id="token"
          type="password"
          autocomplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit">Sign in</button>
      {problem && <p class="error">{problem}</p>}
    </form>
  );
}

function Live(p: { me: Me; state: ClusterState; connected: boolean; signedOut: () => void }) {
  const { state, connected } = p;
  const [, setVersion] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  const [following, setFollowing] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  // One draw per animation frame at most, however many diffs arrive.
  useEffect(() => {
    let queued = false;
    return state.subscribe(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        setVersion(state.version);
      });
    });
  }, [state]);
  const report = (m: string): void => {
    setNote(m);
    if (/sign in/.test(m)) p.signedOut();
  };
  return (
    <div class="page">
      <header class="top">
        <h1>fleet</h1>
        <span class={connected ? 'live' : 'offline'} id="live">
          {connected ? 'live' : 'reconnecting…'}
        </span>
        <span class="who">
          {p.me.name}
          {p.me.readOnly && ' (read-only)'}
        </span>
        <button onClick={() => void api.signOut().finally(p.signedOut)}>sign out</button>
      </header>
      {note && (
        <p class="note" id="note" onClick={() => setNote(null)}>
          {note}
        </p>
      )}
      <ClusterPlots state={state} />
      <ServicesPanel state={state} readOnly={p.me.readOnly} report={report} follow={setFollowing} />
      <NodesPanel
        state={state}
        readOnly={p.me.readOnly}
        selected={selected}
        select={setSelected}
        report={report}
      />
      <div class="pair">
        <EventsPanel available={p.me.sources.events} />
        <LogsPanel available={p.me.sources.logs} service={following} />
      </div>
    </div>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
