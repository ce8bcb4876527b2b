// Text -> documents, keeping each document's YAML tree so any field path can be mapped back
// to the line a person has to edit. JSON goes through the same parser: it is YAML 1.2.

import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import { isDecimalNumber } from '../values.ts';
import { EdgetwinError, ErrorCodes, type Where } from '../errors.ts';

export type PathSegment = string | number;

/** One Kubernetes object from a file: a whole YAML document or one item of a `kind: List`. */
export interface ParsedDoc {
  file: string;
  value: unknown;
  /** Where `value` sits inside its YAML document (empty, or ['items', i] for a List item). */
  base: PathSegment[];
  /** Line of the node at `path` (relative to `value`), or of its nearest existing ancestor. */
  lineAt(path: PathSegment[]): number;
}

export interface ParseResult {
  docs: ParsedDoc[];
  errors: EdgetwinError[];
}

export function parseText(file: string, text: string): ParseResult {
  const lineCounter = new LineCounter();
  const docs: ParsedDoc[] = [];
  const errors: EdgetwinError[] = [];
  for (const doc of parseAllDocuments(text, { lineCounter })) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0].line ?? lineCounter.linePos(e.pos[0]).line;
        errors.push(new EdgetwinError(ErrorCodes.MODEL_PARSE, firstLine(e.message), { file, line },
          'fix the YAML/JSON syntax at that line; the other documents of the file still load'));
      }
      continue;
    }
    if (doc.contents === null) continue;
    keepNonDecimalDesired(doc);
    const value: unknown = doc.toJS({ maxAliasCount: 1000 });
    if (value === null || value === undefined) continue;
    const lineAt = (base: PathSegment[]) => (path: PathSegment[]) => lineOf(doc, lineCounter, [...base, ...path]);
    if (isList(value)) {
      value.items.forEach((item, i) => docs.push({ file, value: item, base: ['items', i], lineAt: lineAt(['items', i]) }));
    } else {
      docs.push({ file, value, base: [], lineAt: lineAt([]) });
    }
  }
  return { docs, errors };
}

/**
 * YAML reads an unquoted 0x10, 0o17 or .inf as a number. A desired value is decimal only
 * (core/values.ts), as it is from the API or MQTT, so such a `desired.value` keeps its text and is
 * refused with it, exactly as the quoted "0x10" is. Elsewhere (configData) YAML's numbers stand.
 */
function keepNonDecimalDesired(doc: Document): void {
  visit(doc, {
    Scalar(slot, node, path) {
      if (slot !== 'value' || typeof node.value !== 'number' || node.source === undefined || isDecimalNumber(node.source)) return;
      const pair = path[path.length - 1];
      const outer = path[path.length - 3];
      if (isPair(pair) && isScalar(pair.key) && pair.key.value === 'value' && isPair(outer) && isScalar(outer.key) && outer.key.value === 'desired') {
        node.value = node.source;
      }
    },
  });
}

// `kubectl get devices -o yaml` writes a v1 List (or DeviceList); its items load like documents.
function isList(value: unknown): value is { items: unknown[] } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items);
}

// A field's line is its key's line: for a block map or list value that is the line a person
// reads as "the field", not the line of the value's first entry.
function lineOf(doc: Document, lineCounter: LineCounter, path: PathSegment[]): number {
  for (let n = path.length; n > 0; n--) {
    const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
    const seg = path[n - 1];
    let node: unknown;
    if (isMap(parent)) node = parent.items.find((pair) => isScalar(pair.key) && pair.key.value === seg)?.key;
    else if (isSeq(parent) && typeof seg === 'number') node = parent.items[seg];
    const offset = rangeStart(node);
    if (offset !== undefined) return lineCounter.linePos(offset).line;
  }
  const offset = rangeStart(doc.contents);
  return offset === undefined ? 1 : lineCounter.linePos(offset).line;
}

function rangeStart(node: unknown): number | undefined {
  return (node as { range?: [number, number, number] } | null | undefined)?.range?.[0];
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

/** Where a field of a document is, for EdgetwinError: file, line and the printed path. */
export function whereIn(doc: ParsedDoc, path: PathSegment[], extra: Where = {}): Where {
  return { file: doc.file, line: doc.lineAt(path), path: formatPath([...doc.base, ...path]) || undefined, ...extra };
}

/** `spec.properties[0].desired.value` from ['spec', 'properties', 0, 'desired', 'value']. */
// Built with join, not `+=`: every property keeps the paths of its fields (SourceRef.fields), and
// V8 keeps a `+=` result as a tree of cons strings, 20 MB of them for 10,000 properties.
export function formatPath(path: PathSegment[]): string {
  const parts: string[] = [];
  for (const seg of path) {
    if (typeof seg === 'number') parts.push(`[${seg}]`);
    else parts.push(/^[A-Za-z_$][\w$]*$/.test(seg) ? (parts.length > 0 ? `.${seg}` : seg) : `[${JSON.stringify(seg)}]`);
  }
  return parts.join('');
}
