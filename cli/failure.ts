// How `edgetwin run` ends when it cannot start: one formatter for every config-file, flag and
// start-up error, so a user always reads what failed, where (file:line or the flag) and what to
// do, and never a stack trace for a mistake of theirs.

import { EdgetwinError, ErrorCodes, type Where } from '../core/errors.ts';

/** Exit code of a config-file or flag mistake: the command was used wrongly (as commander's usage errors). */
export const EXIT_USAGE = 2;
/** Exit code of a gateway that could not start for another reason (a port taken, a store that does not open). */
export const EXIT_START = 1;

/** `edgetwin: <what> (<where>)` and, when there is one, `  hint: <what to do>`. */
export function formatFailure(err: unknown): string {
  if (err instanceof EdgetwinError) {
    const where = describeWhere(err.where);
    return `edgetwin: ${err.message}${where ? ` (${where})` : ''}\n${err.hint ? `  hint: ${err.hint}\n` : ''}`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `edgetwin: ${message}\n`;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof EdgetwinError && err.code === ErrorCodes.CONFIG ? EXIT_USAGE : EXIT_START;
}

function describeWhere(w: Where): string {
  const parts: string[] = [];
  if (w.file) parts.push(w.line ? `${w.file}:${w.line}` : w.file);
  if (w.path) parts.push(w.path);
  if (w.flag) parts.push(w.flag);
  if (w.device) parts.push(w.property ? `${w.device} property ${w.property}` : w.device);
  return parts.join(', ');
}

/** A config-file or flag error: what, where, and a hint. */
export function configError(message: string, where: Where, hint: string): EdgetwinError {
  return new EdgetwinError(ErrorCodes.CONFIG, message, where, hint);
}
