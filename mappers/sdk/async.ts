// Small helpers for coded errors and abortable waits, shared by the runtime and drivers.

/** An Error carrying a stable code (ETIMEDOUT, ECONNRESET, ...), as Node's own errors do. */
export function codedError(code: string, message: string, cause?: unknown): Error & { code: string } {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

/** The stable code of anything thrown: its `code` when it has a string one, else the fallback. */
/**
 * An error a retry cannot fix: the device refused this value (out of range, read-only on the
 * device, a locked setting). Thrown from write(), the twin marks the property `failed` with the
 * reason and does not retry until the desired value changes.
 */
export function permanentError(code: string, message: string, cause?: unknown): Error & { code: string; permanent: true } {
  return Object.assign(codedError(code, message, cause), { permanent: true as const });
}

/** Whether a thrown value is marked permanent (checked by shape: it may come from another SDK copy). */
export function isPermanent(err: unknown): boolean {
  return (err as { permanent?: unknown } | null)?.permanent === true;
}

export function errorCode(err: unknown, fallback: string): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code ? code : fallback;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Settles like `promise`, or rejects with the signal's reason as soon as it aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
