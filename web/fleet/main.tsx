// The fleet view of `edgetwin cloud`: every node with its connection state, last keepalive,
// outbox depth and the messages waiting for its ACK; each node's devices with their states; the
// cloud-edge link's health. The cloud pushes the fleet on its event stream
// (/api/v1/fleet/events), which the browser reconnects by itself when the cloud restarts. Every
// name and state is text in the DOM.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';

interface FleetDevice {
  device: string;
  state: string;
  lastReport: number;
}
interface FleetNode {
  node: string;
  connected: boolean;
  lastSeen?: number;
  outbox?: number;
  pending: number;
  remote?: string;
  devices: FleetDevice[];
}
interface LinkHealth {
  connectedNodes: number;
  resends: number;
  acks: number;
  ackLatencyMeanMs?: number;
  queueDepth: number;
}
interface Fleet {
  at: number;
  nodes: FleetNode[];
  link: LinkHealth;
}

function ago(ms: number | undefined, now: number): string {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return new Date(ms).toLocaleString();
}

function SignIn({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  return (
    <form
      class="signin"
      onSubmit={async (e) => {
        e.preventDefault();
        const res = await fetch('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
        if (res.ok) onDone();
        else setError(((await res.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${res.status}`);
      }}
    >
      <h2>Sign in</h2>
      <p>This cloud asks for the token of its --http-token-file.</p>
      <input type="password" autocomplete="current-password" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} aria-label="token" />
      <button type="submit">Sign in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function Node({ n, now }: { n: FleetNode; now: number }) {
  const online = n.devices.filter((d) => d.state === 'online').length;
  return (
    <section class="node" data-node={n.node}>
      <h2>
        <span class="node-name">{n.node}</span>{' '}
        <span class={`conn-state ${n.connected ? 'up' : 'down'}`}>{n.connected ? 'connected' : 'disconnected'}</span>
      </h2>
      <dl>
        <dt>last seen</dt><dd class="last-seen">{ago(n.lastSeen, now)}</dd>
        <dt>outbox</dt><dd class="outbox">{n.outbox ?? '–'}</dd>
        <dt>waiting for ACK</dt><dd class="pending">{n.pending}</dd>
        <dt>devices</dt><dd class="device-count">{n.devices.length} ({online} online)</dd>
        {n.remote && <><dt>from</dt><dd>{n.remote}</dd></>}
      </dl>
      {n.devices.length > 0 && (
        <table class="devices">
          <thead><tr><th>device</th><th>state</th><th>last report</th></tr></thead>
          <tbody>
            {n.devices.map((d) => (
              <tr key={d.device} data-device={d.device}>
                <td class="name">{d.device}</td>
                <td><span class={`state state-${d.state}`}>{d.state}</span></td>
                <td class="hint">{ago(d.lastReport, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function App() {
  const [fleet, setFleet] = useState<Fleet>();
  const [live, setLive] = useState(false);
  const [signIn, setSignIn] = useState(false);
  const [epoch, setEpoch] = useState(0);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(tick);
  }, []);

  useEffect(() => {
    let es: EventSource | undefined;
    let closed = false;
    (async () => {
      const res = await fetch('/api/v1/fleet').catch(() => undefined);
      if (res?.status === 401) return setSignIn(true);
      if (res?.ok) setFleet((await res.json()) as Fleet);
      if (closed) return;
      es = new EventSource('/api/v1/fleet/events');
      es.addEventListener('open', () => setLive(true));
      es.addEventListener('fleet', (e) => setFleet(JSON.parse((e as MessageEvent<string>).data) as Fleet));
      es.addEventListener('error', () => {
        setLive(false);
        // The browser retries by itself; a cloud that now asks for a sign-in is the one thing it cannot fix.
        void fetch('/api/v1/fleet').then((r) => r.status === 401 && (es?.close(), setSignIn(true)), () => undefined);
      });
    })();
    return () => {
      closed = true;
      es?.close();
    };
  }, [epoch]);

  if (signIn) return <SignIn onDone={() => { setSignIn(false); setEpoch(epoch + 1); }} />;
  const link = fleet?.link;
  return (
    <>
      <header>
        <h1>edgetwin fleet</h1>
        <span class={`conn ${live ? 'live' : 'down'}`}>{live ? 'live' : 'reconnecting…'}</span>
      </header>
      <main>
        {link && (
          <section class="link" aria-label="cloud-edge link">
            <span>nodes connected: <b class="connected-nodes">{link.connectedNodes}</b> of {fleet!.nodes.length}</span>
            <span>resends: <b class="resends">{link.resends}</b></span>
            <span>ACKs: <b>{link.acks}</b></span>
            <span>ACK latency (mean): <b class="ack-latency">{link.ackLatencyMeanMs === undefined ? '–' : `${link.ackLatencyMeanMs.toFixed(1)} ms`}</b></span>
            <span>waiting for ACK: <b>{link.queueDepth}</b></span>
          </section>
        )}
        {fleet && fleet.nodes.length === 0 && <p class="hint">No node has joined yet: `edgetwin cloud token`, then `edgetwin join` on a gateway.</p>}
        <div class="nodes">{fleet?.nodes.map((n) => <Node key={n.node} n={n} now={now} />)}</div>
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
