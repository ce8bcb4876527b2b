// A containerd of a test's own: --root, --state and the socket under a temp dir, a config naming
// a sandbox image the test built from busybox-static and imported itself (no network), its own
// CNI config folder. stop() removes every pod it ran, its shims, mounts, bridge and files.
// Tests only; it kills only the processes its own containerd started.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../../core/testing.ts';
import { connectCri } from '../cri/client.ts';
import { writeBusyboxArchive } from './image.ts';

export const TEST_IMAGE = 'edgetwin.test/busybox:1';
export const SANDBOX_IMAGE = 'edgetwin.test/pause:1';
export const MISSING_IMAGE = '127.0.0.1:1/missing:latest';

export interface TestContainerd {
  dir: string;
  /** unix:///... endpoint of its CRI socket. */
  endpoint: string;
  cniConfDir: string;
  cniBinDir: string;
  stop(opts?: { bridge?: string }): Promise<void>;
}

const which = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

/** Why containerd tests cannot run here, or undefined when they can. */
export function containerdMissing(): string | undefined {
  if (process.platform !== 'linux') return 'containerd tests need Linux';
  if (process.getuid?.() !== 0) return 'containerd tests need root (containerd and runc manage namespaces and cgroups)';
  for (const b of ['containerd', 'runc', 'ctr']) if (!which(b)) return `${b} is not installed (apt install containerd runc)`;
  if (!existsSync('/usr/lib/cni/bridge')) return 'CNI plugins are missing in /usr/lib/cni (apt install containernetworking-plugins)';
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (apt install busybox-static)';
  return undefined;
}

/** `socket`: where to serve, for a test that points a gateway at it before it exists. */
export async function startContainerd(opts: { socket?: string } = {}): Promise<TestContainerd> {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-ctd-'));
  const sock = opts.socket ?? join(dir, 'containerd.sock');
  const cniConfDir = join(dir, 'cni');
  const config = [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    '[grpc]',
    `  address = "${sock}"`,
    '[ttrpc]',
    `  address = "${sock}.ttrpc"`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${SANDBOX_IMAGE}"`,
    // In a container, or under a parent with a raised oom_score_adj, runc may not lower it
    // (the CRI plugin asks -998 for sandboxes); clamp to containerd's own instead.
    '  restrict_oom_score_adj = true',
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    '    bin_dir = "/usr/lib/cni"',
    `    conf_dir = "${cniConfDir}"`,
  ].join('\n');
  writeFileSync(join(dir, 'config.toml'), config + '\n');
  const log = join(dir, 'containerd.log');
  const proc: ChildProcess = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  const chunks: Buffer[] = [];
  proc.stderr!.on('data', (c: Buffer) => {
    chunks.push(c);
    if (chunks.length > 2000) chunks.splice(0, 1000);
  });
  let exited = false;
  proc.on('exit', () => (exited = true));
  try {
    await waitFor('containerd socket', () => {
      if (exited) throw new Error(`containerd exited: ${Buffer.concat(chunks).toString().slice(-2000)}`);
      return existsSync(sock);
    }, 30_000, 50);
    const archive = join(dir, 'images.tar');
    writeBusyboxArchive(archive, [TEST_IMAGE, SANDBOX_IMAGE], ['/bin/sleep', '2147483647']);
    const imp = spawnSync('ctr', ['-a', sock, '-n', 'k8s.io', 'images', 'import', archive], { encoding: 'utf8', timeout: 60_000 });
    if (imp.status !== 0) throw new Error(`ctr images import failed: ${imp.stderr}`);
    const cri = await connectCri(`unix://${sock}`);
    try {
      await waitFor('CRI Version', async () => (await cri.runtime.version()).runtimeName === 'containerd', 30_000, 100);
    } finally {
      cri.close();
    }
  } catch (err) {
    proc.kill('SIGKILL');
    writeFileSync(log, Buffer.concat(chunks));
    throw err;
  }

  return {
    dir,
    endpoint: `unix://${sock}`,
    cniConfDir,
    cniBinDir: '/usr/lib/cni',
    async stop(opts = {}) {
      // Pods first, through CRI, so CNI releases addresses and network namespaces.
      if (!exited) {
        const cri = await connectCri(`unix://${sock}`, { callMs: 15_000 });
        try {
          for (const c of await cri.runtime.listContainers()) {
            await cri.runtime.stopContainer(c.id, 0).catch(() => undefined);
            await cri.runtime.removeContainer(c.id).catch(() => undefined);
          }
          for (const s of await cri.runtime.listPodSandbox()) {
            await cri.runtime.stopPodSandbox(s.id).catch(() => undefined);
            await cri.runtime.removePodSandbox(s.id).catch(() => undefined);
          }
        } catch {
          // A containerd that no longer answers: the shims are killed below.
        } finally {
          cri.close();
        }
        proc.kill('SIGTERM');
        await waitFor('containerd to exit', () => exited, 20_000, 50).catch(() => proc.kill('SIGKILL'));
      }
      // Shims outlive containerd by design; these are ours because they name our socket.
      for (const pid of shimsOf(sock)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m]);
      if (opts.bridge) spawnSync('ip', ['link', 'del', opts.bridge]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function shimsOf(sock: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.includes('containerd-shim') && cmd.includes(sock)) out.push(Number(d));
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

function mountsUnder(dir: string): string[] {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return lines
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => Boolean(p && (p === dir || p.startsWith(dir + '/'))))
    .sort((a, b) => b.length - a.length);
}
