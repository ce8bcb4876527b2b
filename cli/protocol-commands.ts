// Protocol-specific commands (probe, browse, scan, onboard). Each protocol registers its own
// subcommands; their modules load the protocol library only when the command runs.

import type { Command } from 'commander';
import { registerBleCommands } from './ble-commands.ts';
import { registerModbusCommands } from './modbus-commands.ts';
import { registerOpcuaCommands } from './opcua-commands.ts';

type Registrar = (program: Command) => void;

const registrars: Registrar[] = [registerBleCommands, registerModbusCommands, registerOpcuaCommands];

export function registerProtocolCommands(program: Command): void {
  for (const register of registrars) register(program);
}
