// The service table: replicas and update progress, with scale and roll back for a full token.
import { useState } from 'preact/hooks';
import { api, type ServiceRow } from './feed-client.js';
import type { ClusterState } from './state.js';

export function ServicesPanel(p: {
  state: ClusterState;
  readOnly: boolean;
  report: (message: string) => void;
  follow: (service: string) => void;
}) {
  const rows = [...p.state.services.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <section class="panel" id="services">
      <header>
        <h2>
          Services <small>{rows.length}</small>
        </h2>
      </header>
      <table>
        <thead>
          <tr>
            <th>name</th>
            <th>mode</th>
            <th>replicas</th>
            <th>image</th>
            <th>update</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <ServiceLine key={s.id} s={s} {...p} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function ServiceLine(p: {
  s: ServiceRow;
  readOnly: boolean;
  report: (message: string) => void;
  follow: (service: string) => void;
}) {
  const { s } = p;
  const [want, setWant] = useState(String(s.desired));
  const act = (action: Record<string, unknown>, what: string): void => {
    api.act({ ...action, service: s.name }).then(
      () => p.report(`${s.name}: ${what}`),
      (e: Error) => p.report(`${s.name}: ${e.message}`),
    );
  };
  const full = s.running >= s.desired;
  return (
    <tr data-service={s.name} data-running={s.running} data-desired={s.desired}>
      <td>
        <a href="#logs" onClick={() => p.follow(s.name)}>
          {s.name}
        </a>
      </td>
      <td>{s.mode}</td>
      <td class={full ? 'ok' : 'short'}>
        {s.running}/{s.desired}
      </td>
      <td>{s.image}</td>
      <td>
        {s.update ?? ''}
        {s.progress && <span class="progress"> ({s.progress} on the new spec)</span>}
      </td>
      <td class="actions">
        {!p.readOnly && s.mode === 'replicated' && (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const n = Number(want);
              if (!Number.isInteger(n) || n < 0)
                return p.report(`${s.name}: replicas must be a whole number`);
              act({ action: 'scale', replicas: n }, `scaling to ${n}`);
            }}
          >
            <input
              class="replicas"
              type="number"
              min="0"
              value={want}
              onInput={(e) => setWant((e.target as HTMLInputElement).value)}
            />
            <button type="submit">scale</button>
          </form>
        )}
        {!p.readOnly && (
          <button onClick={() => act({ action: 'rollback' }, 'rolling back')}>roll back</button>
        )}
      </td>
    </tr>
  );
}
