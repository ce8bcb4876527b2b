// Kubernetes resourceVersions are opaque strings. KubeEdge parses them as uint64 and panics on
// anything else (cloud/pkg/synccontroller/objectsync.go CompareResourceVersion); edgetwin compares
// numbers as numbers (of any length, without precision loss) and anything else never crashes.

const DIGITS = /^\d+$/;

/**
 * Negative when a is older than b, 0 when equal, positive when newer. Two decimal versions compare
 * numerically; when either is not a number the comparison is undefined: the caller must treat the
 * versions as unordered (deliver, since the object changed, and let the receiver decide).
 */
export function compareResourceVersion(a: string | undefined, b: string | undefined): number | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (a === b) return 0;
  if (!DIGITS.test(a) || !DIGITS.test(b)) return undefined;
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** True when `candidate` should replace what a receiver holds at `held` (newer, or not comparable but different). */
export function isNewer(candidate: string | undefined, held: string | undefined): boolean {
  if (held === undefined) return true;
  if (candidate === undefined) return false;
  const c = compareResourceVersion(candidate, held);
  return c === undefined ? candidate !== held : c > 0;
}
