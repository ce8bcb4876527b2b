// `edgetwin pods` and `edgetwin logs`: the pods of a running gateway, and their containers' logs
// read from the CRI log files on this machine.

import { apiRequest, ApiError, splitDeviceRef, type ApiTarget } from './client.ts';
import { renderTable } from './table.ts';
import { CriLogDecoder, logAttempts, readFrom } from '../hub/edged/logs.ts';
import type { PodStatus } from '../hub/edged/pod.ts';

interface PodJson {
  namespace: string;
  name: string;
  uid: string;
  nodeName: string;
  logDirectory?: string;
  status?: PodStatus;
}

async function listPods(api: ApiTarget): Promise<PodJson[]> {
  return (await apiRequest<{ pods: PodJson[] }>(api, 'GET', 'api/v1/pods')).pods;
}

/** The STATUS column as kubectl shows it: a container's waiting or terminated reason, else the phase. */
export function podStatusText(s: PodStatus | undefined): string {
  if (!s) return 'Pending';
  if (s.reason) return s.reason;
  for (const c of s.containerStatuses) if (c.state.waiting?.reason && c.state.waiting.reason !== 'ContainerCreating' && c.state.waiting.reason !== 'PodInitializing') return c.state.waiting.reason;
  for (const c of s.containerStatuses) if (c.state.terminated && s.phase !== 'Succeeded' && s.phase !== 'Failed') return c.state.terminated.reason;
  if (s.phase === 'Succeeded') return 'Completed';
  if (s.phase === 'Pending' && s.containerStatuses.some((c) => c.state.waiting?.reason === 'ContainerCreating')) return 'ContainerCreating';
  return s.phase;
}

function age(iso: string | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export async function podsCommand(api: ApiTarget, json: boolean): Promise<void> {
  const pods = await listPods(api);
  if (json) {
    process.stdout.write(JSON.stringify({ pods }, null, 2) + '\n');
    return;
  }
  const rows = pods.map((p) => {
    const cs = p.status?.containerStatuses ?? [];
    return [
      p.namespace,
      p.name,
      `${cs.filter((c) => c.ready).length}/${cs.length}`,
      podStatusText(p.status),
      String(cs.reduce((n, c) => n + c.restartCount, 0)),
      age(p.status?.startTime),
      p.status?.podIP ?? '-',
    ];
  });
  process.stdout.write(renderTable(['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP'], rows));
}

export async function logsCommand(api: ApiTarget, ref: string, opts: { container?: string; follow?: boolean; previous?: boolean }): Promise<void> {
  let want: { namespace: string; name: string };
  try {
    want = splitDeviceRef(ref);
  } catch {
    throw new ApiError(0, 'BAD_ARGUMENT', `"${ref}" is not a pod reference: write <namespace>/<name>, e.g. default/web`);
  }
  const pod = (await listPods(api)).find((p) => p.namespace === want.namespace && p.name === want.name);
  if (!pod) throw new ApiError(404, 'NOT_FOUND', `no pod ${want.namespace}/${want.name} on this gateway (list them with edgetwin pods)`);
  const names = (pod.status?.containerStatuses ?? []).map((c) => c.name);
  const container = opts.container ?? names[0];
  if (!container || (opts.container && names.length > 0 && !names.includes(opts.container))) {
    throw new ApiError(0, 'BAD_ARGUMENT', `pod ${ref} has no container ${opts.container ?? ''}; its containers: ${names.join(', ') || '(none yet)'}`);
  }
  const dir = pod.logDirectory!;
  const attempts = logAttempts(dir, container);
  const pick = opts.previous ? attempts[1] : attempts[0];
  if (!pick) {
    throw new ApiError(404, 'NOT_FOUND', opts.previous ? `container ${container} of ${ref} has no previous attempt` : `container ${container} of ${ref} has no log yet (in ${dir})`);
  }
  let file = pick.file;
  let attempt = pick.attempt;
  let decoder = new CriLogDecoder();
  let { text, offset } = readFrom(file, 0);
  process.stdout.write(decoder.push(text));
  if (!opts.follow || opts.previous) return;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const r = readFrom(file, offset);
      offset = r.offset;
      if (r.text) process.stdout.write(decoder.push(r.text));
      // The container restarted: go on with the new attempt's file.
      const newest = logAttempts(dir, container)[0];
      if (newest && newest.attempt > attempt) {
        ({ file, attempt } = newest);
        offset = 0;
        decoder = new CriLogDecoder();
      }
    }, 250);
    process.once('SIGINT', () => {
      clearInterval(timer);
      done();
    });
  });
}
