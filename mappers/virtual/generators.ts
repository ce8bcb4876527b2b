// The signals a virtual property produces. Time-based shapes (sine, ramp, step) depend only on
// the time since the device first connected, so a reconnect does not make them jump; the random
// walk keeps its position in the device's memory.

import type { PropertyType, PropertyValue } from '../../core/values.ts';

export type VirtualFunction = 'sine' | 'ramp' | 'randomWalk' | 'step' | 'constant';

export interface GeneratorConfig {
  function?: VirtualFunction;
  min?: number;
  max?: number;
  /** ms */
  period?: number;
  step?: number;
  /** Initial value (randomWalk, step) or the value (constant). */
  value?: number | string | boolean;
}

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function numeric(cfg: GeneratorConfig, t: number, walk: { position?: number }, random: () => number): number {
  const min = cfg.min ?? 0;
  const max = cfg.max ?? 100;
  const period = cfg.period ?? 60_000;
  const start = typeof cfg.value === 'number' ? cfg.value : cfg.value === true ? 1 : min;
  switch (cfg.function ?? 'constant') {
    case 'sine': return min + (max - min) * (0.5 + 0.5 * Math.sin((2 * Math.PI * t) / period));
    case 'ramp': return min + (max - min) * ((t % period) / period);
    case 'randomWalk': {
      const step = cfg.step ?? (max - min) / 20;
      const prev = walk.position ?? (typeof cfg.value === 'number' ? cfg.value : (min + max) / 2);
      walk.position = Math.min(max, Math.max(min, prev + (random() * 2 - 1) * step));
      return walk.position;
    }
    case 'step': {
      // A staircase: `step` more every period, back to min after max (a counter, a batch number).
      const step = cfg.step ?? 1;
      const v = start + Math.floor(t / period) * step;
      return v > max ? min + ((v - min) % (max - min + step)) : v;
    }
    case 'constant': return start;
  }
}

/** The value a property shows at time `t` (ms since the device's first connect), in its type. */
export function generate(cfg: GeneratorConfig, type: PropertyType, t: number, walk: { position?: number }, random: () => number): PropertyValue {
  if ((cfg.function ?? 'constant') === 'constant' && cfg.value !== undefined && typeof cfg.value !== 'number') {
    return type === 'boolean' && typeof cfg.value === 'string' ? cfg.value === 'true' : cfg.value;
  }
  const v = numeric(cfg, t, walk, random);
  switch (type) {
    case 'int': return Math.round(v);
    case 'boolean': return v >= ((cfg.min ?? 0) + (cfg.max ?? 100)) / 2;
    case 'string': return String(Math.round(v * 1000) / 1000);
    case 'bytes': return Uint8Array.of(Math.round(v) & 0xff);
    default: return Math.round(v * 1000) / 1000;
  }
}
