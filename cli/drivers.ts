// The protocol drivers this gateway knows. Each loads lazily, so a heavy protocol library is
// imported only when a device of that protocol exists.

import type { DriverLoader } from '../mappers/sdk/host.ts';
import { bleLoader } from '../mappers/ble/index.ts';
import { modbusLoader } from '../mappers/modbus/index.ts';
import { opcuaLoader } from '../mappers/opcua/index.ts';
import { serialLoader } from '../mappers/serial/index.ts';
import { virtualLoader } from '../mappers/virtual/index.ts';

export const driverLoaders: DriverLoader[] = [virtualLoader, modbusLoader, bleLoader, opcuaLoader, serialLoader];
