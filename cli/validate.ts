// `edgetwin validate`: the same checks `run` makes (model, then each driver's own schemas),
// every error listed with file:line, exit 1 when any failed.

import { loadDevices } from '../core/model/load.ts';
import { silentLogger } from '../core/log.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { loadDrivers, unknownProtocolHint, type DriverRef } from './drivers.ts';

export async function validateCommand(paths: string[], out = process.stdout, err = process.stderr, driverRefs: DriverRef[] = []): Promise<number> {
  const model = await loadDevices(paths);
  const drivers = await loadDrivers(driverRefs);
  const host = new MapperHost({ sink: { report() {}, state() {} }, drivers: drivers.loaders, log: silentLogger, dataDir: '.', unknownProtocolHint: unknownProtocolHint(drivers.loaders) });
  try {
    const checked = await host.check(model.devices);
    const errors = [...drivers.errors, ...model.errors, ...checked.errors];
    for (const w of model.warnings) err.write(`warning: ${w.format()}\n`);
    for (const e of errors) err.write(`error: ${e.format()}\n`);
    const ok = checked.accepted.length;
    out.write(`${ok} device(s) valid, ${model.models.size} model(s), ${errors.length} error(s), ${model.warnings.length} warning(s) in ${model.files.length} file(s)\n`);
    return errors.length > 0 ? 1 : 0;
  } finally {
    await host.close();
  }
}
