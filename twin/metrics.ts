// Get-or-create helpers, so two components (or two test instances) sharing one registry
// reuse a metric instead of failing on a duplicate name.

import { Counter, Histogram, Registry } from 'prom-client';

export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(registry: Registry, name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Histogram<L>;
  return new Histogram<L>({ name, help, buckets, labelNames, registers: [registry] });
}

export { Registry };
