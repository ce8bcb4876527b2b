// Request bodies in Kubernetes' protobuf encoding, which kubectl's typed commands send
// (`kubectl create namespace|configmap|secret|serviceaccount`): the "k8s\0" envelope around a
// runtime.Unknown, whose raw bytes are the object. The stand-in decodes the few simple core
// kinds those commands create and answers JSON (kubectl accepts it); any other protobuf body
// gets 415 naming the way that works (kubectl apply, which sends JSON).
import { unsupportedMediaType } from './status.ts';

type Obj = Record<string, any>;

type FieldType = 'string' | 'bytes' | 'int64' | 'bool' | Schema | { map: 'string' | 'bytes' };
interface Field { name: string; type: FieldType; repeated?: boolean }
type Schema = { [num: number]: Field };

const OWNER_REFERENCE: Schema = {
  1: { name: 'kind', type: 'string' }, 3: { name: 'name', type: 'string' }, 4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' }, 6: { name: 'controller', type: 'bool' }, 7: { name: 'blockOwnerDeletion', type: 'bool' },
};
const OBJECT_META: Schema = {
  1: { name: 'name', type: 'string' }, 2: { name: 'generateName', type: 'string' }, 3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' }, 6: { name: 'resourceVersion', type: 'string' }, 7: { name: 'generation', type: 'int64' },
  11: { name: 'labels', type: { map: 'string' } }, 12: { name: 'annotations', type: { map: 'string' } },
  13: { name: 'ownerReferences', type: OWNER_REFERENCE, repeated: true }, 14: { name: 'finalizers', type: 'string', repeated: true },
};
const OBJECT_REFERENCE: Schema = {
  1: { name: 'kind', type: 'string' }, 2: { name: 'namespace', type: 'string' }, 3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' }, 5: { name: 'apiVersion', type: 'string' },
};

const KINDS: Record<string, Schema> = {
  Namespace: {
    1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'spec', type: { 1: { name: 'finalizers', type: 'string', repeated: true } } },
  },
  ConfigMap: {
    1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'data', type: { map: 'string' } },
    3: { name: 'binaryData', type: { map: 'bytes' } }, 4: { name: 'immutable', type: 'bool' },
  },
  Secret: {
    1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'data', type: { map: 'bytes' } }, 3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: { map: 'string' } }, 5: { name: 'immutable', type: 'bool' },
  },
  ServiceAccount: {
    1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'secrets', type: OBJECT_REFERENCE, repeated: true },
    3: { name: 'imagePullSecrets', type: { 1: { name: 'name', type: 'string' } }, repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool' },
  },
};

class Reader {
  private at = 0;
  constructor(private buf: Buffer) {}
  get done() { return this.at >= this.buf.length; }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.at >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.at++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    const out = this.buf.subarray(this.at, this.at + len);
    if (out.length !== len) throw new Error('truncated length-delimited field');
    this.at += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.at += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.at += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decodeMessage(buf: Buffer, schema: Schema): Obj {
  const out: Obj = {};
  const r = new Reader(buf);
  while (!r.done) {
    const tag = Number(r.varint());
    const num = tag >>> 3;
    const wire = tag & 7;
    const field = schema[num];
    if (!field) { r.skip(wire); continue; }
    const t = field.type;
    let value: unknown;
    if (t === 'string') value = r.bytes().toString('utf8');
    else if (t === 'bytes') value = r.bytes().toString('base64');
    else if (t === 'int64') value = Number(r.varint());
    else if (t === 'bool') value = r.varint() !== 0n;
    else if ('map' in t && typeof t.map === 'string') {
      const entry = decodeMessage(r.bytes(), { 1: { name: 'k', type: 'string' }, 2: { name: 'v', type: t.map } });
      out[field.name] = { ...out[field.name], [entry.k ?? '']: entry.v ?? (t.map === 'bytes' ? '' : '') };
      continue;
    } else value = decodeMessage(r.bytes(), t as Schema);
    if (field.repeated) out[field.name] = [...(out[field.name] ?? []), value];
    else out[field.name] = value;
  }
  return out;
}

export const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The JSON form of a protobuf-encoded Namespace, ConfigMap, Secret or ServiceAccount. */
export function decodeProtobufObject(body: Buffer): Obj {
  const refuse = (why: string) => unsupportedMediaType(`${PROTOBUF} (${why}; the stand-in decodes protobuf only for ${Object.keys(KINDS).join(', ')}: use kubectl apply, which sends JSON)`, ['application/json', 'application/yaml']);
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw refuse('no k8s protobuf envelope');
  let unknown: Obj;
  try {
    unknown = decodeMessage(body.subarray(4), {
      1: { name: 'typeMeta', type: { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } } },
      2: { name: 'raw', type: 'bytes' },
    });
  } catch (err) {
    throw refuse(`undecodable envelope: ${(err as Error).message}`);
  }
  const kind = unknown.typeMeta?.kind ?? '';
  const schema = KINDS[kind];
  if (!schema || unknown.typeMeta?.apiVersion !== 'v1') throw refuse(`kind ${unknown.typeMeta?.apiVersion}/${kind}`);
  try {
    return { apiVersion: 'v1', kind, ...decodeMessage(Buffer.from(unknown.raw ?? '', 'base64'), schema) };
  } catch (err) {
    throw refuse(`undecodable ${kind}: ${(err as Error).message}`);
  }
}
