// What /healthz says: "ok" only when every component that matters says so, else "degraded" with
// each reason. A component is a name and a probe returning undefined when it is fine, or what is
// wrong in words a user can act on. Some components are shown but never degrade the gateway (a
// cloud link that is down: running offline is normal for an edge gateway).

export interface HealthReason {
  component: string;
  message: string;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  reasons: HealthReason[];
  /** Every component: "ok", or its problem; those that never degrade are marked so. */
  components: Record<string, { status: 'ok' | 'problem'; message?: string; degrades: boolean }>;
}

interface Check {
  probe: () => string | undefined;
  degrades: boolean;
}

export class Health {
  private readonly checks = new Map<string, Check>();

  /** Adds (or replaces) a component. `degrades: false` shows its problem without turning /healthz degraded. */
  add(component: string, probe: () => string | undefined, opts: { degrades?: boolean } = {}): this {
    this.checks.set(component, { probe, degrades: opts.degrades ?? true });
    return this;
  }

  report(): HealthReport {
    const reasons: HealthReason[] = [];
    const components: HealthReport['components'] = {};
    for (const [component, check] of this.checks) {
      let message: string | undefined;
      try {
        message = check.probe();
      } catch (err) {
        message = `health check failed: ${err instanceof Error ? err.message : String(err)}`;
      }
      components[component] = message === undefined ? { status: 'ok', degrades: check.degrades } : { status: 'problem', message, degrades: check.degrades };
      if (message !== undefined && check.degrades) reasons.push({ component, message });
    }
    return { status: reasons.length ? 'degraded' : 'ok', reasons, components };
  }
}
