// Stable error codes, one place. Every error a user can see carries one, with what failed,
// where (file:line, device, property) and what to do. Two kinds, both documented in docs/errors.md
// (core/errors.test.ts checks that every code the source uses is registered here and documented):
// - ErrorCodes (ET_*): the gateway's own errors: a document, a setting, an API request, the store.
// - IoCodes (E*, errno style as Node's own): why a reading is bad or a write failed, as they appear
//   in a reading's error.code, a write outcome and the twin's reconcile reason. A driver throws
//   these (codedError(IoCodes.TIMED_OUT, ...)); operating-system codes pass through unchanged.

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
  /** A fault inside the gateway that no request caused: a bug to report. */
  INTERNAL: 'ET_INTERNAL',
  /** The local API wants a bearer token and the request has none, or a wrong one. */
  UNAUTHORIZED: 'ET_UNAUTHORIZED',
  /** The request's Host header is not a name the API answers to (DNS rebinding guard). */
  FORBIDDEN_HOST: 'ET_FORBIDDEN_HOST',
  /** A web page of another origin (or a cross-site browser request) called the API. */
  FORBIDDEN_ORIGIN: 'ET_FORBIDDEN_ORIGIN',
  /** A write request that does not say Content-Type: application/json. */
  FORBIDDEN_CONTENT_TYPE: 'ET_FORBIDDEN_CONTENT_TYPE',
  /** A scoped credential (a pod's token) asked for something outside its scope: another namespace's device, or a route it may not use. */
  FORBIDDEN_SCOPE: 'ET_FORBIDDEN_SCOPE',
  /** A known API path asked with a method it does not serve. */
  METHOD_NOT_ALLOWED: 'ET_METHOD_NOT_ALLOWED',
  /** Too many wrong sign-in tokens in the last minute: sign-in pauses for a minute. */
  TOO_MANY: 'ET_TOO_MANY',
  /** A driver's discover() failed: an OPC UA server could not be browsed, a BLE scan or onboarding failed. */
  DISCOVERY: 'ET_DISCOVERY',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * Why a reading is bad or a write failed. The runtime and the built-in drivers use only these (and
 * the families below); a driver package may add its own codes, which pass through unchanged.
 */
export const IoCodes = {
  // The runtime's own
  /** No answer within the request's timeout (a read, a write, a connect). */
  TIMED_OUT: 'ETIMEDOUT',
  /** The device is not connected: offline, or the connection closed under the request. */
  NOT_CONNECTED: 'ENOTCONN',
  /** The request was cancelled because the device stopped (a reload, a shutdown). */
  CANCELED: 'ECANCELED',
  /** The driver or the device returned no value for the property. */
  NO_DATA: 'ENODATA',
  /** The value does not fit the property's type. */
  TYPE: 'ETYPE',
  /** The codec cannot decode the bytes, or encode the value (width, order, scale). */
  CODEC: 'ECODEC',
  /** The value is outside what the device or the data type can hold. */
  RANGE: 'ERANGE',
  /** A read failed and the driver gave no code of its own. */
  READ: 'EREAD',
  /** A write failed and the driver gave no code of its own. */
  WRITE: 'EWRITE',
  /** The device marked the value bad without saying why. */
  BAD_QUALITY: 'EBADQUALITY',
  /** Connecting failed and the driver gave no code of its own. */
  CONNECT: 'ECONNECT',
  /** The device's configuration cannot work (a certificate file without a certificate). */
  CONFIG: 'ECONFIG',
  /** The device or the driver cannot write this property (no write command for it). */
  READ_ONLY: 'EREADONLY',
  /** The device refused the value as invalid. */
  INVALID: 'EINVAL',
  // Link and transport (operating-system codes the drivers also raise themselves)
  CONNECTION_RESET: 'ECONNRESET',
  CONNECTION_REFUSED: 'ECONNREFUSED',
  CONNECTION_ABORTED: 'ECONNABORTED',
  BROKEN_PIPE: 'EPIPE',
  HOST_UNREACHABLE: 'EHOSTUNREACH',
  NETWORK_UNREACHABLE: 'ENETUNREACH',
  HOST_NOT_FOUND: 'ENOTFOUND',
  NO_ENTRY: 'ENOENT',
  NO_DEVICE: 'ENODEV',
  // Modbus (exception responses are the MODBUS_EXCEPTION_ family)
  /** The RTU answer's CRC does not match (noise, or two devices answering). */
  MODBUS_CRC: 'MODBUS_CRC',
  /** An answer shorter than asked, or a frame that went quiet half way. */
  MODBUS_SHORT_FRAME: 'MODBUS_SHORT_FRAME',
  /** The answer came from another unit or function, or is not Modbus at all. */
  MODBUS_BAD_RESPONSE: 'MODBUS_BAD_RESPONSE',
  /** A write to an input register or a discrete input. */
  MODBUS_NOT_WRITABLE: 'MODBUS_NOT_WRITABLE',
  // Serial instruments
  /** The instrument answered with an error of its own. */
  DEVICE: 'EDEVICE',
  /** A frame arrived but did not match the expected reply. */
  FORMAT: 'EFORMAT',
  /** Frames were dropped for their checksum or shape. */
  BAD_FRAME: 'EBADFRAME',
  /** A reply started but its end never came. */
  PARTIAL: 'EPARTIAL',
  // Bluetooth LE
  NO_ADAPTER: 'ENOADAPTER',
  SLOTS: 'ESLOTS',
  ATT: 'EATT',
  NO_CHARACTERISTIC: 'ENOCHAR',
  NOT_READABLE: 'ENOTREADABLE',
  NOTIFY: 'ENOTIFY',
  // Virtual devices
  VIRTUAL_FAULT: 'EVIRTUAL_FAULT',
} as const;

export type IoCode = (typeof IoCodes)[keyof typeof IoCodes];

/** Codes a protocol fills in from the wire: MODBUS_EXCEPTION_2, BAD_NODE_ID_UNKNOWN. */
export const IoCodeFamilies = {
  /** A Modbus exception response; the suffix is the exception code (1 illegal function, 2 illegal address, ...). */
  MODBUS_EXCEPTION: 'MODBUS_EXCEPTION_',
  /** An OPC UA Bad status, its name in upper snake case (BadNodeIdUnknown -> BAD_NODE_ID_UNKNOWN). */
  OPCUA_BAD: 'BAD_',
  /** An OPC UA Uncertain status, likewise. */
  OPCUA_UNCERTAIN: 'UNCERTAIN_',
} as const;

const REGISTERED = new Set<string>([...Object.values(ErrorCodes), ...Object.values(IoCodes)]);

/** Whether a code is one of edgetwin's own (a gateway code, an I/O code, or of a registered family). */
export function isRegisteredCode(code: string): boolean {
  return REGISTERED.has(code) || Object.values(IoCodeFamilies).some((prefix) => code.startsWith(prefix) && code.length > prefix.length);
}

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
