// Label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors (=, ==, != on the
// field labels a resource supports), parsed once per request into a predicate on an object.
import { badRequest } from './status.ts';

type Obj = Record<string, any>;
export type Predicate = (obj: Obj) => boolean;

/** Splits on commas that are not inside parentheses ("a in (x,y),b" -> two requirements). */
function requirements(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out.filter((r) => r !== '');
}

export function parseLabelSelector(text: string | null | undefined): Predicate {
  if (!text) return () => true;
  const tests: Predicate[] = requirements(text).map((req) => {
    let m = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req);
    if (m) {
      const [, key, op, list] = m;
      const values = new Set(list.split(',').map((v) => v.trim()).filter((v) => v !== ''));
      return op === 'in'
        ? (o) => values.has(o.metadata?.labels?.[key])
        : (o) => !values.has(o.metadata?.labels?.[key]);
    }
    m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(req);
    if (m) {
      const [, key, op, value] = m;
      return op === '!='
        ? (o) => o.metadata?.labels?.[key] !== value
        : (o) => o.metadata?.labels?.[key] === value;
    }
    m = /^(!?)([^\s!=(),]+)$/.exec(req);
    if (m) {
      const [, not, key] = m;
      return not ? (o) => !(key in (o.metadata?.labels ?? {})) : (o) => key in (o.metadata?.labels ?? {});
    }
    throw badRequest(`unable to parse requirement: ${JSON.stringify(req)}: found unexpected token in label selector ${JSON.stringify(text)}`);
  });
  return (o) => tests.every((t) => t(o));
}

function fieldValue(obj: Obj, path: string): string {
  let cur: any = obj;
  for (const part of path.split('.')) cur = cur?.[part];
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

/** Field selectors as a real server takes them: only the labels the resource declares. */
export function parseFieldSelector(text: string | null | undefined, labels: string[], resource: string): Predicate {
  if (!text) return () => true;
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...labels]);
  const tests: Predicate[] = requirements(text).map((req) => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(req);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${req}'`);
    const [, field, op, value] = m;
    if (!allowed.has(field)) throw badRequest(`field label not supported: ${field} (for ${resource})`);
    return op === '!=' ? (o) => fieldValue(o, field) !== value : (o) => fieldValue(o, field) === value;
  });
  return (o) => tests.every((t) => t(o));
}
