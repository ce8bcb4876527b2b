// The pod network: a CNI conflist for edgetwin's own bridge (Debian's containernetworking-plugins:
// bridge + host-local IPAM + loopback), written where containerd's CRI plugin reads CNI configs.
// containerd picks the conflist up by itself (it watches the directory).

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PodNetwork {
  /** Bridge device name, at most 15 characters (a Linux interface name). */
  bridge: string;
  /** IPv4 subnet in CIDR form, e.g. 10.88.0.0/16; the gateway takes the first address. */
  podCidr: string;
  /** Directory containerd's CRI plugin reads conflists from. */
  confDir: string;
  /** Where host-local keeps its address leases: one directory per gateway, never shared. */
  ipamDir: string;
}

export const CONFLIST_NAME = '10-edgetwin.conflist';

export function validatePodNetwork(n: Pick<PodNetwork, 'bridge' | 'podCidr'>): string | undefined {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(n.bridge)) return `edged.bridge "${n.bridge}" is not a Linux interface name (1 to 15 letters, digits, '_', '.', '-')`;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(n.podCidr);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 30 || Number(m[5]) < 8) {
    return `edged.podCidr "${n.podCidr}" is not an IPv4 subnet between /8 and /30, e.g. 10.88.0.0/16`;
  }
  return undefined;
}

/** The first usable address of the subnet: where pods reach the gateway on the bridge. */
export function bridgeAddress(podCidr: string): string {
  const [ip, bits] = podCidr.split('/') as [string, string];
  const n = ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  const first = ((n & mask) + 1) >>> 0;
  return [24, 16, 8, 0].map((s) => (first >>> s) & 255).join('.');
}

/** `iptables`: the host has iptables, which masquerading and hostPort mappings need. */
export function conflist(n: PodNetwork, iptables: boolean): object {
  return {
    cniVersion: '1.0.0',
    name: 'edgetwin',
    plugins: [
      {
        type: 'bridge',
        bridge: n.bridge,
        isGateway: true,
        ipMasq: iptables,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: n.podCidr, gateway: bridgeAddress(n.podCidr) }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: n.ipamDir,
        },
      },
      // hostPort mappings: containerd hands them to the chain's portmap plugin (iptables DNAT).
      ...(iptables ? [{ type: 'portmap', capabilities: { portMappings: true } }] : []),
      { type: 'loopback' },
    ],
  };
}

/**
 * Writes the conflist when it differs from what is there (atomically: containerd watches the
 * directory and must never read half a file). Returns true when it wrote.
 */
export function writeConflist(n: PodNetwork): boolean {
  // Without iptables pods still reach the gateway and each other, but not beyond it.
  const iptables = existsSync('/usr/sbin/iptables') || existsSync('/sbin/iptables');
  const text = JSON.stringify(conflist(n, iptables), null, 2) + '\n';
  const file = join(n.confDir, CONFLIST_NAME);
  try {
    if (readFileSync(file, 'utf8') === text) return false;
  } catch {
    // Not there yet.
  }
  mkdirSync(n.confDir, { recursive: true });
  writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  return true;
}

/**
 * CNI configs in `confDir` that containerd would pick instead of edgetwin's: it uses the first
 * one in name order, so a `05-other.conflist` silently takes the pods elsewhere.
 */
export function shadowingConfigs(confDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(confDir);
  } catch {
    return [];
  }
  return names.filter((n) => /\.(conflist|conf|json)$/.test(n) && n !== CONFLIST_NAME && n < CONFLIST_NAME).sort();
}
