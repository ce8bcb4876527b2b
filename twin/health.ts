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

/**
 * A URL as it may be shown: userinfo (user:password@) removed. Anything unparsable is shown as
 * its scheme only, since it may still hold a secret.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
    return scheme ? `${scheme}//[unparsable URL hidden]` : '[unparsable URL hidden]';
  }
}
