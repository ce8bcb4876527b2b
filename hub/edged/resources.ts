// A container's resource requests and limits in the runtime's terms.

import { parseQuantity, type ContainerSpec } from './pod.ts';

/** requests.cpu -> CPU shares, limits.cpu -> CFS quota, limits.memory -> memory limit (as the kubelet maps them). */
export function linuxResources(c: ContainerSpec): { cpuPeriod?: number; cpuQuota?: number; cpuShares?: number; memoryLimitInBytes?: number } {
  const q = (v: string | number | undefined) => (v === undefined ? undefined : parseQuantity(String(v)));
  const reqCpu = q(c.resources?.requests?.cpu);
  const limCpu = q(c.resources?.limits?.cpu);
  const limMem = q(c.resources?.limits?.memory);
  const out: { cpuPeriod?: number; cpuQuota?: number; cpuShares?: number; memoryLimitInBytes?: number } = {};
  const shareCpu = reqCpu ?? limCpu;
  out.cpuShares = shareCpu !== undefined ? Math.max(2, Math.round(shareCpu * 1024)) : 2;
  if (limCpu !== undefined) {
    out.cpuPeriod = 100_000;
    out.cpuQuota = Math.max(1000, Math.round(limCpu * 100_000));
  }
  if (limMem !== undefined) out.memoryLimitInBytes = Math.round(limMem);
  return out;
}
