// One logger for the whole gateway: structured pino lines, one per event, never secrets.
import { pino, type Logger } from 'pino';
import type { LogRing } from './log-ring.ts';

export type { Logger };

export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream; ring?: LogRing } = {}): Logger {
  const level = opts.level ?? process.env.EDGETWIN_LOG_LEVEL ?? 'info';
  const destination = opts.destination ?? pino.destination({ fd: 2, sync: false });
  // The dashboard's ring gets the warnings and errors too, as the same lines (redacted alike).
  const out = opts.ring
    ? pino.multistream([{ stream: destination, level: level as pino.Level }, { stream: opts.ring.stream, level: 'warn' }])
    : destination;
  return pino(
    {
      name: opts.name ?? 'edgetwin',
      level,
      // Secrets can only reach logs through these keys; pino replaces them wholesale. URLs that may
      // carry a password go through core/redact.ts where they are logged.
      redact: {
        paths: [
          'password', '*.password', 'mqtt.password', 'configData.password',
          'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    out as never,
  );
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
