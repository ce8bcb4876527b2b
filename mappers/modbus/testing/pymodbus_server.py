"""A pymodbus (Debian's 3.0) server for edgetwin's tests: TCP or RTU, registers from a JSON file.

usage: pymodbus_server.py tcp <port> <image.json> | rtu <serial-device> <baud> <image.json>
The image maps unit ids to sparse tables: {"1": {"hr": {"0": 17}, "ir": {}, "co": {}, "di": {}}}.
Unmapped addresses answer exception 02, as a real PLC's gaps do. Prints READY when serving.
"""
import asyncio
import json
import os
import sys
import threading

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer


def block(table):
    values = {int(k): int(v) for k, v in table.items()}
    return ModbusSparseDataBlock(values if values else {65535: 0})


def context(image):
    slaves = {
        int(unit): ModbusSlaveContext(
            hr=block(t.get("hr", {})), ir=block(t.get("ir", {})),
            co=block(t.get("co", {})), di=block(t.get("di", {})), zero_mode=True)
        for unit, t in image.items()
    }
    return ModbusServerContext(slaves=slaves, single=False)


def exit_with_parent():
    """The test holds our stdin open; when it dies, even by SIGKILL, stdin ends and so do we."""
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


async def main():
    threading.Thread(target=exit_with_parent, daemon=True).start()
    mode = sys.argv[1]
    with open(sys.argv[-1], encoding="utf8") as f:
        ctx = context(json.load(f))
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, lambda: print("READY", flush=True))
    if mode == "tcp":
        # A restarted PLC binds its port again at once, whatever connections the killed one left in TIME_WAIT.
        await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", int(sys.argv[2])), allow_reuse_address=True)
    else:
        await StartAsyncSerialServer(context=ctx, framer=ModbusRtuFramer, port=sys.argv[2],
                                     baudrate=int(sys.argv[3]), bytesize=8, parity="N", stopbits=1,
                                     ignore_missing_slaves=True)


asyncio.run(main())
