// Edge -> cloud messages: which operations an edge may send up, and their delivery to the cloud's
// consumers (the controllers, the report log), whose answers become the edge's response.
import { OK, Operations, type Message } from '../message/index.ts';

/**
 * A consumer of edge -> cloud messages, their resource already prefixed `node/{node}/`. What it resolves with (other than undefined) is the content
 * of the edge's answer (a query's result); the answer is `"OK"` when every handler resolved undefined.
 */
export type UpstreamHandler = (node: string, msg: Message) => Promise<unknown> | unknown;

/** Operations an edge may send up. Anything else is answered with an error. */
export const UPSTREAM_OPERATIONS = new Set<string>([
  Operations.INSERT, Operations.UPDATE, Operations.DELETE, Operations.QUERY, Operations.PATCH, Operations.UPLOAD, Operations.GET,
]);

/** Hands the message to every consumer in turn; the content of the edge's answer. A consumer's failure rejects. */
export async function deliverUpstream(handlers: readonly UpstreamHandler[], node: string, up: Message): Promise<unknown> {
  let answer: unknown = OK;
  for (const h of handlers) {
    const r = await h(node, up);
    if (r !== undefined) answer = r;
  }
  return answer;
}
