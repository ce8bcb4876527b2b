// node-opcua prints warnings and errors with console.log, which would mix into `edgetwin opcua
// browse`'s YAML on stdout and into the gateway's terminal view. This module is imported before
// node-opcua itself, so even import-time messages go where we say: stderr by default, the gateway's
// structured log once the driver connects a device.

import { inspect } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua-debug';
import { createLogger } from '../../core/log.ts';

type LibrarySink = (level: 'warn' | 'error', text: string) => void;

let sink: LibrarySink = (level, text) => process.stderr.write(`node-opcua ${level}: ${text}\n`);

// This warning concerns RSA PKCS#1 v1.5 decryption, used only by Basic128Rsa15, which we refuse.
const IRRELEVANT = /NODE-OPCUA-W27|security-revert=CVE-2023-46809/;

function forward(level: 'warn' | 'error') {
  return (...args: unknown[]) => {
    // node-opcua passes its caller ({ filename, callerline }) first: noise for a user.
    const text = args.filter((a) => !(a && typeof a === 'object' && 'callerline' in a)).map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 2, breakLength: Infinity }))).join(' ').trim();
    if (text && !IRRELEVANT.test(text)) sink(level, text);
  };
}

setWarningLogger(forward('warn'));
setErrorLogger(forward('error'));

export function routeLibraryLog(to: LibrarySink): void {
  sink = to;
}

let routedToGateway = false;

/**
 * Once, when the driver connects its first device: node-opcua's messages concern the process, not
 * one device, so they get a logger of their own at the gateway's level. Its warnings repeat on
 * every reconnect (a whole certificate dump each time); our own errors say what to do.
 */
export function routeLibraryLogToGateway(level: string): void {
  if (routedToGateway) return;
  routedToGateway = true;
  const log = createLogger({ level }).child({ component: 'mapper', library: 'node-opcua' });
  routeLibraryLog((lvl, text) => (lvl === 'error' ? log.warn(text) : log.debug(text)));
}
