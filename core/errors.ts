// Stable error codes, one place. Every error a user can see carries one, with what failed,
// where (file:line, device, property) and what to do.

export const ErrorCodes = {
  MODEL_PARSE: 'ET_MODEL_PARSE',
  MODEL_SCHEMA: 'ET_MODEL_SCHEMA',
  MODEL_KIND: 'ET_MODEL_KIND',
  MODEL_MISSING: 'ET_MODEL_MISSING',
  MODEL_PROPERTY: 'ET_MODEL_PROPERTY',
  MODEL_DUPLICATE: 'ET_MODEL_DUPLICATE',
  MODEL_VALUE: 'ET_MODEL_VALUE',
  PROTOCOL_UNKNOWN: 'ET_PROTOCOL_UNKNOWN',
  PROTOCOL_CONFIG: 'ET_PROTOCOL_CONFIG',
  VISITOR_CONFIG: 'ET_VISITOR_CONFIG',
  LINK_CONFLICT: 'ET_LINK_CONFLICT',
  READ_ONLY: 'ET_READ_ONLY',
  NOT_FOUND: 'ET_NOT_FOUND',
  BAD_REQUEST: 'ET_BAD_REQUEST',
  CONFLICT: 'ET_CONFLICT',
  CONFIG: 'ET_CONFIG',
  /** A KubeEdge DMI mapper did not take a call (its socket is gone, it refused, the deadline passed). */
  DMI_MAPPER: 'ET_DMI_MAPPER',
  /** The store (SQLite, the data directory) refused: disk full, corrupted, read-only, locked. */
  STORAGE: 'ET_STORAGE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface Where {
  file?: string;
  line?: number;
  device?: string;
  property?: string;
  /** JSON-pointer-like path inside the document, e.g. spec.properties[2].desired.value */
  path?: string;
  /** The command-line flag (or environment variable) that carried the value, e.g. --log-level */
  flag?: string;
}

export class EdgetwinError extends Error {
  override name = 'EdgetwinError';
  readonly code: ErrorCode;
  readonly where: Where;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, where: Where = {}, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.where = where;
    this.hint = hint;
  }

  /** One line for people: `file:line: device/property: path: message (hint)`. */
  format(): string {
    const parts: string[] = [];
    if (this.where.file) parts.push(this.where.line ? `${this.where.file}:${this.where.line}` : this.where.file);
    if (this.where.device) parts.push(this.where.property ? `${this.where.device} property ${this.where.property}` : this.where.device);
    else if (this.where.property) parts.push(`property ${this.where.property}`);
    if (this.where.path) parts.push(this.where.path);
    if (this.where.flag) parts.push(this.where.flag);
    const head = parts.length ? parts.join(': ') + ': ' : '';
    return `${head}${this.message}${this.hint ? ` (${this.hint})` : ''}`;
  }
}
