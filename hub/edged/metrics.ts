// Edged's Prometheus metrics: how many pods are in each phase, whether containerd answers, and
// how often containers were (re)started and image pulls failed.

import { Gauge, type Registry } from 'prom-client';
import { counter } from '../../twin/metrics.ts';

export interface EdgedMetrics {
  containerStarts(kind: 'start' | 'restart'): void;
  pullFailure(): void;
}

export function edgedMetrics(registry: Registry | undefined, view: { phases(): Record<string, number>; runtimeUp(): boolean }): EdgedMetrics {
  if (!registry) return { containerStarts: () => undefined, pullFailure: () => undefined };
  const starts = counter(registry, 'edgetwin_edged_container_starts_total', 'Containers started by edged, first starts and restarts', ['kind']);
  const pulls = counter(registry, 'edgetwin_edged_image_pull_failures_total', 'Image pulls that failed');
  if (!registry.getSingleMetric('edgetwin_edged_pods')) {
    new Gauge({
      name: 'edgetwin_edged_pods',
      help: 'Pods on this gateway by phase',
      labelNames: ['phase'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [phase, n] of Object.entries(view.phases())) this.set({ phase }, n);
      },
    });
    new Gauge({
      name: 'edgetwin_edged_runtime_up',
      help: '1 when containerd answers on its CRI socket',
      registers: [registry],
      collect() {
        this.set(view.runtimeUp() ? 1 : 0);
      },
    });
  }
  return { containerStarts: (kind) => starts.inc({ kind }), pullFailure: () => pulls.inc() };
}
