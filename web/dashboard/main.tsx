// The gateway dashboard: devices, one device's properties (value, quality, unit, sparkline,
// desired value, reconcile state, a form), link health and the last warnings. Data comes from the
// local API; changes are pushed by its event stream (/api/v1/events), which the browser reconnects
// by itself when the gateway restarts. Every name and value is text in the DOM.

import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { checkDesired, type ModelProperty } from './check.ts';

interface Summary {
  device: string;
  namespace: string;
  name: string;
  model: string;
  protocol: string;
  state: string;
  properties: number;
  deltas: number;
  failed: number;
}
interface PropView {
  name: string;
  type: string;
  accessMode: string;
  desired?: { value: unknown; origin: string };
  reported?: { value?: unknown; time: number; quality: string; error?: { code: string; message: string } };
  reconcile: { state: string; reason?: string };
  delta: boolean;
}
interface DeviceView {
  twin: { device: string; state: string; stateReason?: string; protocol: string; properties: Record<string, PropView> };
  model?: Record<string, ModelProperty>;
  history: Record<string, [number, number][]>;
}
interface Link {
  link: string;
  protocol: string;
  devices: number;
  requestsPerSecond: number;
  errorsPerSecond: number;
  errors: number;
  latenessP99Ms: number;
  utilisation: number;
}
interface LogLine {
  time: number;
  level: string;
  msg: string;
  device?: string;
}

class Unauthorized extends Error {}

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { ...init, headers: { ...(init?.body ? { 'content-type': 'application/json' } : {}), ...(init?.headers ?? {}) } });
  const body = (await res.json().catch(() => ({}))) as T & { message?: string };
  if (res.status === 401) throw new Unauthorized(body.message ?? 'sign in');
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

const show = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
const path = (id: string) => id.split('/').map(encodeURIComponent).join('/');

function SignIn({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  return (
    <form
      class="signin"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await api('/api/v1/session', { method: 'POST', body: JSON.stringify({ token }) });
          onDone();
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <h2>Sign in</h2>
      <p>This gateway asks for its API token (the file api.tokenFile names).</p>
      <input type="password" autocomplete="current-password" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} aria-label="API token" />
      <button type="submit">Sign in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

const ROW = 30;

/** Only the rows in sight are in the DOM: 2,000 devices scroll like 20. */
function DeviceList({ devices, selected, onSelect }: { devices: Summary[]; selected?: string; onSelect: (id: string) => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const el = box.current!;
    const resize = () => setHeight(el.clientHeight);
    resize();
    window.addEventListener('resize', resize);
    return () => window.removeEventListener('resize', resize);
  }, []);
  const first = Math.max(0, Math.floor(top / ROW) - 5);
  const last = Math.min(devices.length, Math.ceil((top + height) / ROW) + 5);
  return (
    <div class="devices" ref={box} onScroll={(e) => setTop((e.target as HTMLDivElement).scrollTop)}>
      <div style={{ height: `${devices.length * ROW}px`, position: 'relative' }}>
        {devices.slice(first, last).map((d, i) => (
          <div
            key={d.device}
            class={`device-row${d.device === selected ? ' selected' : ''}`}
            data-device={d.device}
            style={{ top: `${(first + i) * ROW}px`, height: `${ROW}px` }}
            onClick={() => onSelect(d.device)}
          >
            <span class="name">{d.device}</span>
            <span class="protocol">{d.protocol}</span>
            <span class={`state state-${d.state}`}>{d.state}</span>
            {d.failed > 0 && <span class="badge failed">{d.failed} failed</span>}
            {d.deltas > 0 && <span class="badge delta">{d.deltas} Δ</span>}
          </div>
        ))}
      </div>
    </div>
  );
}

function Sparkline({ points }: { points: [number, number][] }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();
  useEffect(() => {
    const data: uPlot.AlignedData = [points.map((p) => p[0] / 1000), points.map((p) => p[1])];
    if (!plot.current) {
      plot.current = new uPlot(
        { width: 160, height: 36, legend: { show: false }, cursor: { show: false }, axes: [{ show: false }, { show: false }], scales: { x: { time: false } }, series: [{}, { stroke: '#2a7ae2', width: 1.5, points: { show: false } }] },
        data,
        el.current!,
      );
    } else plot.current.setData(data);
  }, [points]);
  useEffect(() => () => plot.current?.destroy(), []);
  return <div class="spark" ref={el} />;
}

function SetForm({ device, name, model, onDone }: { device: string; name: string; model: ModelProperty; onDone: () => void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  return (
    <form
      class="set"
      onSubmit={async (e) => {
        e.preventDefault();
        const checked = checkDesired(name, model, text);
        if ('error' in checked) {
          setError(checked.error); // refused here: nothing is sent
          return;
        }
        try {
          await api(`/api/v1/devices/${path(device)}/twin/desired/${encodeURIComponent(name)}`, { method: 'PUT', body: JSON.stringify({ value: checked.value }) });
          setError('');
          setText('');
          onDone();
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <input name={name} value={text} placeholder={model.minimum !== undefined || model.maximum !== undefined ? `${model.minimum ?? ''}…${model.maximum ?? ''}` : model.type} onInput={(e) => setText((e.target as HTMLInputElement).value)} aria-label={`desired ${name}`} />
      <button type="submit">Set</button>
      {error && <div class="error form-error">{error}</div>}
    </form>
  );
}

function DeviceDetail({ view, refresh }: { view: DeviceView; refresh: () => void }) {
  const t = view.twin;
  return (
    <section class="detail">
      <h2>
        <span class="name">{t.device}</span> <span class="protocol">{t.protocol}</span> <span class={`state state-${t.state}`}>{t.state}</span>
        {t.stateReason && <span class="reason"> {t.stateReason}</span>}
      </h2>
      <table class="props">
        <thead>
          <tr>
            <th>property</th><th>reported</th><th>quality</th><th>last minutes</th><th>desired</th><th>reconcile</th><th>set</th>
          </tr>
        </thead>
        <tbody>
          {Object.values(t.properties).map((p) => {
            const m = view.model?.[p.name] ?? { type: p.type, accessMode: p.accessMode };
            return (
              <tr key={p.name} data-property={p.name}>
                <td class="pname">{p.name}</td>
                <td class="value">
                  {show(p.reported?.value)} {m.unit && <span class="unit">{m.unit}</span>}
                </td>
                <td class={`quality q-${p.reported?.quality ?? 'none'}`} title={p.reported?.error ? `${p.reported.error.code}: ${p.reported.error.message}` : ''}>
                  {p.reported?.quality ?? ''}
                </td>
                <td>{view.history[p.name] && <Sparkline points={view.history[p.name]!} />}</td>
                <td class="desired">{show(p.desired?.value)}</td>
                <td class={`reconcile r-${p.reconcile.state}`}>
                  {p.reconcile.state === 'none' ? '' : p.reconcile.state}
                  {p.reconcile.reason && <span class="reason"> {p.reconcile.reason}</span>}
                </td>
                <td>{p.accessMode === 'ReadWrite' && <SetForm device={t.device} name={p.name} model={m} onDone={refresh} />}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function Links({ links }: { links: Link[] }) {
  return (
    <section class="links">
      <h3>Links</h3>
      <table>
        <thead>
          <tr><th>link</th><th>protocol</th><th>devices</th><th>requests/s</th><th>errors/s</th><th>errors</th><th>lateness p99</th><th>bus use</th></tr>
        </thead>
        <tbody>
          {links.map((l) => (
            <tr key={l.link}>
              <td>{l.link}</td><td>{l.protocol}</td><td>{l.devices}</td><td>{l.requestsPerSecond.toFixed(1)}</td><td>{l.errorsPerSecond.toFixed(2)}</td>
              <td>{l.errors}</td><td>{l.latenessP99Ms.toFixed(0)} ms</td><td>{(l.utilisation * 100).toFixed(0)} %</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Logs({ lines }: { lines: LogLine[] }) {
  return (
    <section class="logs">
      <h3>Warnings and errors</h3>
      <ul>
        {lines.slice(-50).reverse().map((l, i) => (
          <li key={`${l.time}-${i}`} class={`log-${l.level}`}>
            {new Date(l.time).toLocaleTimeString()} {l.level} {l.device ? `${l.device}: ` : ''}{l.msg}
          </li>
        ))}
      </ul>
    </section>
  );
}


interface Found {
  address: string;
  name?: string;
  rssi: number;
}

/** Onboarding: browse an OPC UA server or scan BLE, see the proposed YAML, edit it, add it to devices.d. */
function Onboarding() {
  const [open, setOpen] = useState(false);
  const [url, setUrl] = useState('opc.tcp://');
  const [filter, setFilter] = useState('');
  const [yaml, setYaml] = useState('');
  const [file, setFile] = useState('');
  const [found, setFound] = useState<Found[]>([]);
  const [busy, setBusy] = useState('');
  const [message, setMessage] = useState('');
  const run = async (what: string, fn: () => Promise<void>) => {
    setBusy(what);
    setMessage('');
    try {
      await fn();
    } catch (err) {
      setMessage((err as Error).message);
    } finally {
      setBusy('');
    }
  };
  if (!open) return <button class="onboard-open" onClick={() => setOpen(true)}>Add devices…</button>;
  return (
    <section class="onboarding">
      <h3>Add devices</h3>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void run('browsing…', async () => {
            const r = await api<{ name: string; variables: number; yaml: string }>('/api/v1/onboarding/opcua/browse', { method: 'POST', body: JSON.stringify({ url, ...(filter ? { filter } : {}) }) });
            if (!r.yaml) throw new Error(`no variables found on ${url}`);
            setYaml(r.yaml);
            setFile(r.name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-'));
          });
        }}
      >
        <label>OPC UA server <input name="opcua-url" value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} /></label>
        <label>filter <input name="opcua-filter" value={filter} placeholder="Line1/*" onInput={(e) => setFilter((e.target as HTMLInputElement).value)} /></label>
        <button type="submit" disabled={!!busy}>Browse</button>
        <button
          type="button"
          disabled={!!busy}
          onClick={() => run('scanning…', async () => setFound((await api<{ devices: Found[] }>('/api/v1/onboarding/ble/scan', { method: 'POST', body: JSON.stringify({ seconds: 5 }) })).devices))}
        >
          Scan BLE
        </button>
      </form>
      {found.length > 0 && (
        <ul class="found">
          {found.map((f) => (
            <li key={f.address}>
              {f.address} {f.name ?? ''} {f.rssi} dBm{' '}
              <button
                type="button"
                disabled={!!busy}
                onClick={() =>
                  run('reading the sensor…', async () => {
                    setYaml((await api<{ yaml: string }>('/api/v1/onboarding/ble/onboard', { method: 'POST', body: JSON.stringify({ address: f.address }) })).yaml);
                    setFile(`ble-${(f.name ?? f.address).toLowerCase().replace(/[^a-z0-9._-]+/g, '-')}`);
                  })
                }
              >
                Propose
              </button>
            </li>
          ))}
        </ul>
      )}
      {busy && <p class="hint">{busy}</p>}
      {yaml && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run('adding…', async () => {
              const r = await api<{ file: string; devices: string[] }>('/api/v1/onboarding/devices', { method: 'POST', body: JSON.stringify({ file, yaml }) });
              setMessage(`added ${r.devices.join(', ')} (${r.file})`);
              setYaml('');
            });
          }}
        >
          <textarea name="proposal" rows={14} value={yaml} onInput={(e) => setYaml((e.target as HTMLTextAreaElement).value)} aria-label="proposed Device YAML" />
          <label>file in devices.d <input name="proposal-file" value={file} onInput={(e) => setFile((e.target as HTMLInputElement).value)} /></label>
          <button type="submit" disabled={!!busy}>Add</button>
        </form>
      )}
      {message && <p class="onboard-message">{message}</p>}
    </section>
  );
}

function App() {
  const [signIn, setSignIn] = useState(false);
  const [connected, setConnected] = useState(false);
  const [devices, setDevices] = useState<Map<string, Summary>>(new Map());
  const [selected, setSelected] = useState<string | undefined>(decodeURIComponent(location.hash.slice(1)) || undefined);
  const [view, setView] = useState<DeviceView>();
  const [links, setLinks] = useState<Link[]>([]);
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [filter, setFilter] = useState('');
  const [epoch, setEpoch] = useState(0);

  const loadList = async () => {
    const r = await api<{ devices: Summary[] }>('/api/v1/devices');
    setDevices(new Map(r.devices.map((d) => [d.device, d])));
    const l = await api<{ lines: LogLine[] }>('/api/v1/logs');
    setLogs(l.lines);
  };
  const loadDevice = async (id: string) => setView(await api<DeviceView>(`/api/v1/devices/${path(id)}/dashboard`));

  // One event stream, reopened when the shown device changes; the browser retries it after a restart.
  useEffect(() => {
    if (signIn) return;
    let closed = false;
    const fail = (err: unknown) => (err instanceof Unauthorized ? setSignIn(true) : undefined);
    const es = new EventSource(`/api/v1/events${selected ? `?device=${encodeURIComponent(selected)}` : ''}`);
    es.addEventListener('hello', () => {
      // (Re)connected, maybe to a restarted gateway: everything is loaded again.
      setConnected(true);
      loadList().catch(fail);
      if (selected) loadDevice(selected).catch(fail);
    });
    es.addEventListener('devices', (e) => {
      const list = JSON.parse((e as MessageEvent).data) as Summary[];
      setDevices((old) => {
        const next = new Map(old);
        for (const d of list) next.set(d.device, d);
        return next;
      });
    });
    es.addEventListener('membership', () => loadList().catch(fail));
    es.addEventListener('device', (e) => {
      const d = JSON.parse((e as MessageEvent).data) as DeviceView;
      setView((old) => (old && old.twin.device === d.twin.device ? { ...old, ...d } : old));
    });
    es.addEventListener('links', (e) => setLinks(JSON.parse((e as MessageEvent).data) as Link[]));
    es.addEventListener('log', (e) => setLogs((old) => [...old.slice(-199), JSON.parse((e as MessageEvent).data) as LogLine]));
    es.onerror = () => {
      if (closed) return;
      setConnected(false);
      // A stream refused for want of the token looks like any error to EventSource: ask the API.
      api('/api/v1/devices').catch(fail);
    };
    return () => {
      closed = true;
      es.close();
    };
  }, [selected, signIn, epoch]);

  const list = useMemo(() => {
    const all = [...devices.values()].sort((a, b) => a.device.localeCompare(b.device));
    return filter ? all.filter((d) => d.device.includes(filter) || d.protocol.includes(filter) || d.state === filter) : all;
  }, [devices, filter]);

  if (signIn) return <SignIn onDone={() => { setSignIn(false); setEpoch(epoch + 1); }} />;
  const counts = [...devices.values()].reduce<Record<string, number>>((c, d) => ((c[d.state] = (c[d.state] ?? 0) + 1), c), {});
  return (
    <main>
      <header>
        <h1>edgetwin</h1>
        <span class={`conn ${connected ? 'live' : 'down'}`}>{connected ? 'live' : 'reconnecting…'}</span>
        <span class="counts">
          {devices.size} devices{Object.entries(counts).map(([s, n]) => ` · ${n} ${s}`).join('')}
        </span>
      </header>
      <div class="body">
        <aside>
          <input class="filter" placeholder="filter devices" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} aria-label="filter devices" />
          <DeviceList devices={list} selected={selected} onSelect={(id) => {
            if (id === selected) return; // already shown, and its stream already open
            location.hash = encodeURIComponent(id);
            setView(undefined);
            setSelected(id);
          }} />
        </aside>
        <div class="main">
          {view && view.twin.device === selected ? <DeviceDetail view={view} refresh={() => loadDevice(selected!).catch(() => undefined)} /> : <p class="hint">{selected ? 'loading…' : 'pick a device'}</p>}
          <Onboarding />
          <Links links={links} />
          <Logs lines={logs} />
        </div>
      </div>
    </main>
  );
}

render(<App />, document.getElementById('app')!);
