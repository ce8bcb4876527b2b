// Every frame received on the link is checked before anything acts on it: size first (so a huge
// frame is never parsed), then JSON, then the envelope's shape. A bad frame yields a reason that
// the session logs and answers with an `error` message; it never ends the session.

import { compileSchema, dottedPath } from '../../core/schema.ts';
import type { Message } from './envelope.ts';

/** The default of `cloudhub.maxFrameBytes`. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

const schema = {
  type: 'object',
  required: ['header', 'route'],
  properties: {
    header: {
      type: 'object',
      required: ['msg_id'],
      properties: {
        msg_id: { type: 'string', minLength: 1, maxLength: 128 },
        parent_msg_id: { type: 'string', maxLength: 128 },
        timestamp: { type: 'number' },
        resourceversion: { type: 'string', maxLength: 64 },
        sync: { type: 'boolean' },
        type: { type: 'string', maxLength: 128 },
      },
    },
    route: {
      type: 'object',
      required: ['source', 'group', 'operation', 'resource'],
      properties: {
        source: { type: 'string', maxLength: 128 },
        destination: { type: 'string', maxLength: 128 },
        group: { type: 'string', maxLength: 128 },
        operation: { type: 'string', minLength: 1, maxLength: 64 },
        resource: { type: 'string', maxLength: 1024 },
      },
    },
    content: {},
  },
} as const;

const envelope = compileSchema<Message>(schema);

export type FrameResult = { ok: true; message: Message } | { ok: false; reason: string; partial?: Pick<Message, 'header' | 'route'> };

/** Parses one text frame. `bytes` is the frame's size on the wire, checked before parsing. */
export function parseFrame(data: string | Buffer, maxBytes = DEFAULT_MAX_FRAME_BYTES): FrameResult {
  const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (bytes > maxBytes) return { ok: false, reason: `frame of ${bytes} bytes is over the limit of ${maxBytes} bytes (cloudhub.maxFrameBytes)` };
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `frame is not JSON: ${(err as Error).message}` };
  }
  const checked = envelope.check(value);
  if (!checked.ok) {
    const problem = checked.problems[0]!;
    return { ok: false, reason: `frame is not a beehive message: ${dottedPath(problem.path) || 'the frame'}: ${problem.message}`, partial: salvage(value) };
  }
  const message = checked.value;
  if (message.header.timestamp === undefined) message.header.timestamp = 0;
  if (!('content' in message)) (message as Message).content = null;
  return { ok: true, message };
}

/** Enough of a bad frame's header and route to address an error reply to it, when there is any. */
function salvage(value: unknown): Pick<Message, 'header' | 'route'> | undefined {
  const v = value as Partial<Message> | null;
  if (!v || typeof v !== 'object' || typeof v.header?.msg_id !== 'string') return undefined;
  const r = (v.route ?? {}) as Partial<Message['route']>;
  const str = (x: unknown) => (typeof x === 'string' ? x : '');
  return {
    header: { msg_id: v.header.msg_id.slice(0, 128), timestamp: Date.now() },
    route: { source: str(r.source), group: str(r.group), operation: str(r.operation), resource: str(r.resource) },
  };
}
