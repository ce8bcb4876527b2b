// The page's own check of a desired value against the model, before it is sent: the same rules
// the API applies (decimal numbers only, booleans true/false/1/0, the model's minimum and
// maximum, KubeEdge's 512-byte limit), so a person sees why at once. The API checks again.

export interface ModelProperty {
  type: string;
  accessMode: string;
  unit?: string;
  minimum?: number;
  maximum?: number;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** The typed value to send, or the reason it is refused. */
export function checkDesired(name: string, p: ModelProperty, text: string): { value: unknown } | { error: string } {
  const t = text.trim();
  if (p.accessMode === 'ReadOnly') return { error: `${name} is read-only` };
  if (new TextEncoder().encode(text).length > 512) return { error: `the value is longer than 512 bytes (KubeEdge's limit)` };
  switch (p.type) {
    case 'boolean':
      if (t === 'true' || t === '1') return { value: true };
      if (t === 'false' || t === '0') return { value: false };
      return { error: `${name} is a boolean: true, false, 1 or 0` };
    case 'string':
      return { value: text };
    case 'bytes':
    case 'time':
      return { value: t };
    default: {
      const integer = p.type === 'int' || p.type === 'int64' || p.type === 'uint' || p.type === 'uint64';
      if (!(integer ? INTEGER : DECIMAL).test(t)) return { error: `${name} is ${integer ? 'an integer' : 'a decimal number'}: "${t}" is not` };
      const n = Number(t);
      if (p.minimum !== undefined && n < p.minimum) return { error: `${name}: ${t} is below the minimum ${p.minimum}` };
      if (p.maximum !== undefined && n > p.maximum) return { error: `${name}: ${t} is above the maximum ${p.maximum}` };
      // Beyond 2^53 a JSON number loses digits: such integers travel as their string form.
      return { value: integer && !Number.isSafeInteger(n) ? t : n };
    }
  }
}
