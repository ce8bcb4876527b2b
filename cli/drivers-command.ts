// `edgetwin drivers`: what a configuration would load, and from where, without a running gateway.

import { resolveConfig } from './config.ts';
import { loadDrivers } from './drivers.ts';
import { renderTable } from './table.ts';

export async function driversCommand(flags: { config?: string; drivers?: string[]; json?: boolean }, out = process.stdout, err = process.stderr): Promise<number> {
  const config = resolveConfig({ config: flags.config, drivers: flags.drivers });
  const { listed, errors } = await loadDrivers(config.drivers);
  if (flags.json) out.write(`${JSON.stringify(listed, null, 2)}\n`);
  else out.write(renderTable(['PROTOCOL', 'ALIASES', 'FROM', 'LOCATION'], listed.map((d) => [d.protocol, d.aliases.join(',') || '-', d.source, d.location])));
  for (const e of errors) err.write(`error: ${e.format()}\n`);
  return errors.length > 0 ? 1 : 0;
}
