// Byte strings in Device YAML: text with escapes ("MEAS?\r\n", "\x02") or hex ({ hex: "01 03 {address}" }),
// and the {address} / {value} placeholders of command templates and match patterns.

/** A byte string as YAML writes it: text with escapes, or `{ hex }`. */
export type ByteSpec = string | { hex: string };

const SIMPLE: Record<string, number> = { r: 13, n: 10, t: 9, '0': 0, '\\': 92, e: 27, a: 7, b: 8, f: 12, v: 11 };

/** Text with backslash escapes -> bytes (characters above 0xFF are sent as UTF-8). */
export function unescapeText(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\' || i + 1 >= text.length) {
      out.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const next = text[i + 1]!;
    if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      out.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (next in SIMPLE) {
      out.push(SIMPLE[next]!);
      i += 1;
    } else {
      out.push(92);
    }
  }
  return Uint8Array.from(out);
}

/** "01 03 0a" or "01030A" -> bytes; undefined when it is not whole hex bytes. */
export function parseHex(hex: string): Uint8Array | undefined {
  const clean = hex.replace(/[\s:,]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) return undefined;
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

/** A fixed byte string (delimiter, marker): no placeholders. */
export function specBytes(spec: ByteSpec): Uint8Array {
  if (typeof spec === 'string') return unescapeText(spec);
  const bytes = parseHex(spec.hex);
  if (!bytes) throw new Error(`"${spec.hex}" is not hex bytes (write pairs of hex digits, e.g. "02 1f")`);
  return bytes;
}

/** Problems with a byte spec, for check(): bad hex, or placeholders where none are allowed. */
export function checkByteSpec(spec: ByteSpec, placeholders: readonly string[]): string | undefined {
  const body = typeof spec === 'string' ? spec : spec.hex;
  for (const m of body.matchAll(/\{([a-z]+)(?::[a-z]+)?\}/g)) {
    if (!placeholders.includes(m[1]!)) return `unknown placeholder {${m[1]}}${placeholders.length ? ` (allowed: ${placeholders.map((p) => `{${p}}`).join(', ')})` : ' (none allowed here)'}`;
  }
  if (typeof spec !== 'string' && !parseHex(spec.hex.replace(/\{[a-z]+(?::[a-z]+)?\}/g, ''))) return `"${spec.hex}" is not hex bytes (write pairs of hex digits, e.g. "02 1f")`;
  return undefined;
}

export interface TemplateValues {
  /** The device's address on a multi-drop bus. */
  address?: number | string;
  /** A written value: its text, and its encoded bytes when the property has a bytes codec. */
  value?: { text: string; raw?: Uint8Array };
}

function addressByte(address: number | string | undefined): number {
  const n = typeof address === 'number' ? address : Number(address);
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`address ${String(address)} does not fit one byte`);
  return n;
}

/** Text for a placeholder in a text template: {address}, {address:hex} (two hex digits), {value}. */
function textOf(name: string, form: string | undefined, v: TemplateValues): string {
  if (name === 'address') {
    if (v.address === undefined) throw new Error('the template uses {address} but the device sets no address');
    if (form === 'hex') return addressByte(v.address).toString(16).toUpperCase().padStart(2, '0');
    if (form === 'byte') return String.fromCharCode(addressByte(v.address));
    return String(v.address);
  }
  if (!v.value) throw new Error('{value} is only meaningful in a write command');
  if (form === 'hex' && v.value.raw) return Buffer.from(v.value.raw).toString('hex').toUpperCase();
  return v.value.text;
}

/** Render a command template to the bytes to send. */
export function renderCommand(spec: ByteSpec, v: TemplateValues): Uint8Array {
  if (typeof spec === 'string') {
    const parts: Uint8Array[] = [];
    let last = 0;
    for (const m of spec.matchAll(/\{(address|value)(?::(hex|byte))?\}/g)) {
      parts.push(unescapeText(spec.slice(last, m.index)));
      const text = textOf(m[1]!, m[2], v);
      parts.push(m[2] === 'byte' ? Uint8Array.of(text.charCodeAt(0)) : Buffer.from(text, 'utf8'));
      last = m.index! + m[0].length;
    }
    parts.push(unescapeText(spec.slice(last)));
    return Buffer.concat(parts);
  }
  const parts: Uint8Array[] = [];
  let last = 0;
  for (const m of spec.hex.matchAll(/\{(address|value)\}/g)) {
    parts.push(parseHex(spec.hex.slice(last, m.index))!);
    if (m[1] === 'address') parts.push(Uint8Array.of(addressByte(v.address)));
    else if (v.value?.raw) parts.push(v.value.raw);
    else throw new Error('{value} in a hex command needs a bytes extract to encode the value');
    last = m.index! + m[0].length;
  }
  parts.push(parseHex(spec.hex.slice(last))!);
  return Buffer.concat(parts);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A match/stream/expect pattern with {address} filled in (as text, {address:hex} or {address:byte}). */
export function compilePattern(pattern: string, address: number | string | undefined): RegExp {
  const source = pattern.replace(/\{address(?::(hex|byte))?\}/g, (_all, form: string | undefined) => {
    const text = textOf('address', form, { address });
    return form === 'byte' ? `\\x${text.charCodeAt(0).toString(16).padStart(2, '0')}` : escapeRegex(text);
  });
  return new RegExp(source, 's');
}

