// From a resolved Device to what the runtime runs: configs validated against the driver's own
// schemas (ajv) and frozen, the driver's cross-field checks, codecs, and the read plan, computed
// once per config and never per cycle.

import type { DeviceSpecResolved, PropertySpec } from '../../core/device.ts';
import { EdgetwinError, ErrorCodes, type ErrorCode, type Where } from '../../core/errors.ts';
import type { ConfigData } from '../../core/model/types.ts';
import { compileSchema, dottedPath, type SchemaProblem, type Validator } from '../../core/schema.ts';
import { checkCodecSpec, type CodecSpec } from './codec.ts';
import type { DeviceBinding, Driver, PropertyBinding, ReadRequest } from './driver.ts';
import type { SerialSettings } from './links.ts';

export const DEFAULT_TIMEOUT_MS = 5000;

export interface PreparedDevice {
  spec: DeviceSpecResolved;
  driver: Driver;
  binding: DeviceBinding;
  /** Properties the runtime polls (unsupported ones are left out, with the warning the loader gave). */
  plan: ReadRequest[];
  /** Set when the driver splits push from poll (Driver.pushes): the properties subscribe() delivers. */
  pushed?: readonly PropertyBinding[];
  codecs: ReadonlyMap<string, CodecSpec>;
  link: string;
  maxInFlight: number;
  timeoutMs: number;
  /** Driver.streamTimeout: silence on the pushed properties after which they turn bad. */
  streamTimeoutMs?: number;
  serial?: SerialSettings;
}

interface Validators {
  protocol: Validator<ConfigData>;
  visitor: Validator<ConfigData>;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Where a field a driver names was written: the Device or its DeviceModel, at the key's own line
 * (core/model records each configData key's and model field's position). Falls back to the
 * property's or the device's line.
 */
function locate(spec: DeviceSpecResolved, prop: PropertySpec | undefined, base: string, field: string | undefined): Where {
  const key = field?.split(/[.[]/)[0];
  const origin = key ? (prop ? prop.source?.fields?.[key] : spec.source?.fields?.[key]) : undefined;
  const rest = field && key ? field.slice(key.length) : '';
  const fallback = prop?.source ?? spec.source;
  return {
    file: origin?.file ?? fallback?.file,
    line: origin?.line ?? fallback?.line,
    device: spec.id,
    ...(prop ? { property: prop.name } : {}),
    path: origin?.path ? `${origin.path}${rest}` : field ? `${base}.${field}` : base,
  };
}

/** Compiles each driver's schemas once and turns Devices into PreparedDevices. */
export class DevicePreparer {
  readonly #validators = new WeakMap<Driver, Validators>();

  #compile(driver: Driver): Validators {
    let v = this.#validators.get(driver);
    if (!v) {
      // A driver package's schemas may use keywords of other drafts: compiled tolerantly.
      v = { protocol: compileSchema(driver.protocolSchema, { strict: false }), visitor: compileSchema(driver.visitorSchema, { strict: false }) };
      this.#validators.set(driver, v);
    }
    return v;
  }

  prepare(spec: DeviceSpecResolved, driver: Driver): { prepared?: PreparedDevice; errors: EdgetwinError[] } {
    const errors: EdgetwinError[] = [];
    const v = this.#compile(driver);
    const schemaErrors = (code: ErrorCode, base: string, what: string, problems: SchemaProblem[], prop?: PropertySpec) => {
      for (const problem of problems) {
        const field = dottedPath(problem.path);
        errors.push(new EdgetwinError(code, `${what} ${field || 'configData'}: ${problem.message}`, locate(spec, prop, base, field || undefined), `see the ${driver.name} driver's configuration reference`));
      }
    };

    const config = structuredClone(spec.protocolConfig ?? {}) as ConfigData;
    const protocolChecked = v.protocol.check(config);
    if (!protocolChecked.ok) schemaErrors(ErrorCodes.PROTOCOL_CONFIG, 'spec.protocol.configData', `${driver.name} protocol field`, protocolChecked.problems);

    const properties: PropertyBinding[] = [];
    for (const prop of spec.properties) {
      if (prop.unsupported) continue;
      // deadband and reconcile are extensions the runtime and the twin apply for every protocol
      // (core/model reads them into PropertySpec), so no driver schema has to list them.
      const { deadband: _deadband, reconcile: _reconcile, ...visitor } = structuredClone(prop.visitor ?? {}) as ConfigData;
      const visitorChecked = v.visitor.check(visitor);
      if (!visitorChecked.ok) {
        schemaErrors(ErrorCodes.VISITOR_CONFIG, `spec.properties[name=${prop.name}].visitors.configData`, `${driver.name} visitor field`, visitorChecked.problems, prop);
      }
      properties.push({ name: prop.name, spec: prop, visitor });
    }
    if (errors.length) return { errors };

    const binding = deepFreeze({ id: spec.id, spec, config, properties }) as DeviceBinding;
    for (const problem of driver.check?.(binding) ?? []) {
      const prop = problem.property ? spec.properties.find((p) => p.name === problem.property) : undefined;
      const base = prop ? `spec.properties[name=${prop.name}].visitors.configData` : 'spec.protocol.configData';
      errors.push(new EdgetwinError(prop ? ErrorCodes.VISITOR_CONFIG : ErrorCodes.PROTOCOL_CONFIG, problem.message, locate(spec, prop, base, problem.path || undefined)));
    }

    const codecs = new Map<string, CodecSpec>();
    for (const p of binding.properties) {
      const codec = driver.codec?.(p);
      if (!codec) continue;
      for (const problem of checkCodecSpec(codec)) {
        errors.push(new EdgetwinError(ErrorCodes.VISITOR_CONFIG, problem, {
          file: p.spec.source?.file ?? spec.source?.file, line: p.spec.source?.line ?? spec.source?.line, device: spec.id, property: p.name,
          path: `spec.properties[name=${p.name}].visitors.configData`,
        }));
      }
      codecs.set(p.name, codec);
    }
    if (errors.length) return { errors };

    const serial = driver.serial?.(binding);
    const pushed = driver.pushes ? binding.properties.filter((p) => driver.pushes!(p, binding)) : undefined;
    const polled = pushed ? binding.properties.filter((p) => !pushed.includes(p)) : binding.properties;
    const plan = driver.plan ? driver.plan(binding, polled) : polled.map((p) => ({ properties: [p] }));
    const streamTimeoutMs = driver.streamTimeout?.(binding);
    return {
      errors,
      prepared: {
        spec,
        driver,
        binding,
        plan,
        ...(pushed ? { pushed } : {}),
        codecs,
        // Prefixed, so two protocols cannot share a scheduler by choosing the same key.
        link: `${driver.name}:${driver.link?.(binding) ?? `device:${spec.id}`}`,
        // A serial bus carries one request at a time, whatever the driver says.
        maxInFlight: serial ? 1 : driver.maxInFlight?.(binding) ?? 1,
        timeoutMs: driver.timeout?.(binding) ?? DEFAULT_TIMEOUT_MS,
        ...(streamTimeoutMs ? { streamTimeoutMs } : {}),
        serial,
      },
    };
  }
}
