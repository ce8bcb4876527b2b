"""An independent KubeEdge DMI peer for edgetwin's tests: Python's grpcio with stubs that
grpc_tools.protoc compiled from hub/dmi/dmi.proto in the test (PYTHONPATH points there).

  dmi_peer.py mapper   CONFIG_JSON   a KubeEdge mapper: serves DeviceMapperService, registers
                                      with a DeviceManagerService, reports twins and states
  dmi_peer.py edgecore CONFIG_JSON   edgecore's side: serves DeviceManagerService, hands out
                                      devices, records what mappers report

Every event is one JSON line on stdout. In edgecore mode, JSON lines on stdin call the
registered mapper: {"call": "UpdateDevice", "device": {...}} or {"call": "RemoveDevice", ...}.
"""
import json
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import any_pb2, json_format, struct_pb2, wrappers_pb2

import dmi_pb2
import dmi_pb2_grpc

LOCK = threading.Lock()
WRAPPERS = [wrappers_pb2.StringValue, wrappers_pb2.BoolValue, wrappers_pb2.Int32Value, wrappers_pb2.Int64Value,
            wrappers_pb2.FloatValue, wrappers_pb2.DoubleValue, wrappers_pb2.UInt32Value, wrappers_pb2.UInt64Value]


def emit(event, **fields):
    with LOCK:
        sys.stdout.write(json.dumps(dict(event=event, **fields)) + "\n")
        sys.stdout.flush()


def unpack(any_msg):
    """An Any back to a plain value; the type name is kept so tests can check what was sent."""
    for cls in WRAPPERS:
        if any_msg.Is(cls.DESCRIPTOR):
            m = cls()
            any_msg.Unpack(m)
            return {"type": cls.DESCRIPTOR.name, "value": m.value}
    if any_msg.Is(struct_pb2.Value.DESCRIPTOR):
        m = struct_pb2.Value()
        any_msg.Unpack(m)
        return {"type": "Value", "value": json_format.MessageToDict(m)}
    return {"type": any_msg.type_url, "value": None}


def pack(v):
    a = any_pb2.Any()
    if isinstance(v, bool):
        a.Pack(wrappers_pb2.BoolValue(value=v))
    elif isinstance(v, int):
        a.Pack(wrappers_pb2.Int32Value(value=v) if -2**31 <= v < 2**31 else wrappers_pb2.Int64Value(value=v))
    elif isinstance(v, float):
        a.Pack(wrappers_pb2.FloatValue(value=v))
    elif isinstance(v, str):
        a.Pack(wrappers_pb2.StringValue(value=v))
    else:
        val = struct_pb2.Value()
        json_format.ParseDict(v, val)
        a.Pack(val)
    return a


def config_of(cv):
    return {k: unpack(v) for k, v in cv.data.items()}


def describe(device):
    return {
        "name": device.name,
        "namespace": device.namespace,
        "model": device.spec.deviceModelReference,
        "protocol": device.spec.protocol.protocolName,
        "protocolConfig": config_of(device.spec.protocol.configData),
        "properties": {p.name: {"visitor": config_of(p.visitors.configData), "desired": p.desired.value,
                                "collectCycle": p.collectCycle, "reportCycle": p.reportCycle} for p in device.spec.properties},
    }


# ---------------------------------------------------------------- mapper mode

class Mapper(dmi_pb2_grpc.DeviceMapperServiceServicer):
    def __init__(self, cfg):
        self.cfg = cfg
        self.values = dict(cfg.get("values", {}))
        self.channel = grpc.insecure_channel("unix://" + cfg["managerSocket"])
        self.manager = dmi_pb2_grpc.DeviceManagerServiceStub(self.channel)

    def report(self, name, namespace, values):
        twins = [dmi_pb2.Twin(propertyName=k, reported=dmi_pb2.TwinProperty(value=str(v), metadata={"timestamp": str(int(time.time() * 1000)), "type": "string"}))
                 for k, v in values.items()]
        try:
            self.manager.ReportDeviceStates(dmi_pb2.ReportDeviceStatesRequest(deviceName=name, deviceNamespace=namespace, state="ok"), timeout=10)
            self.manager.ReportDeviceStatus(dmi_pb2.ReportDeviceStatusRequest(deviceName=name, deviceNamespace=namespace,
                                                                              reportedDevice=dmi_pb2.DeviceStatus(twins=twins)), timeout=10)
            emit("reported", device=name, values=values)
        except grpc.RpcError as e:
            emit("report_error", device=name, code=e.code().name, details=e.details())

    def RegisterDevice(self, request, context):
        emit("RegisterDevice", device=describe(request.device))
        threading.Thread(target=self.report, args=(request.device.name, request.device.namespace, self.values)).start()
        return dmi_pb2.RegisterDeviceResponse(deviceName=request.device.name, deviceNamespace=request.device.namespace)

    def UpdateDevice(self, request, context):
        d = describe(request.device)
        emit("UpdateDevice", device=d)
        # A device that takes its setpoints: report the desired values back as reported.
        desired = {k: p["desired"] for k, p in d["properties"].items() if p["desired"] != ""}
        self.values.update(desired)
        threading.Thread(target=self.report, args=(request.device.name, request.device.namespace, self.values)).start()
        return dmi_pb2.UpdateDeviceResponse()

    def RemoveDevice(self, request, context):
        emit("RemoveDevice", device=request.deviceName, namespace=request.deviceNamespace)
        return dmi_pb2.RemoveDeviceResponse()

    def CreateDeviceModel(self, request, context):
        emit("CreateDeviceModel", model=request.model.name, properties={p.name: p.type for p in request.model.spec.properties})
        return dmi_pb2.CreateDeviceModelResponse(deviceModelName=request.model.name, deviceModelNamespace=request.model.namespace)

    def UpdateDeviceModel(self, request, context):
        emit("UpdateDeviceModel", model=request.model.name)
        return dmi_pb2.UpdateDeviceModelResponse()

    def RemoveDeviceModel(self, request, context):
        emit("RemoveDeviceModel", model=request.modelName)
        return dmi_pb2.RemoveDeviceModelResponse()

    def GetDevice(self, request, context):
        return dmi_pb2.GetDeviceResponse()

    def register(self):
        info = dmi_pb2.MapperInfo(name=self.cfg.get("name", "py-mapper"), version="1.0", api_version="v1beta1",
                                  protocol=self.cfg["protocol"], address=self.cfg["socket"].encode(), state="ok")
        try:
            res = self.manager.MapperRegister(dmi_pb2.MapperRegisterRequest(withData=True, mapper=info), timeout=30)
        except grpc.RpcError as e:
            emit("register_error", code=e.code().name, details=e.details())
            return
        emit("registered", devices=[describe(d) for d in res.deviceList],
             models=[{"name": m.name, "properties": {p.name: p.type for p in m.spec.properties}} for m in res.modelList])
        for d in res.deviceList:
            self.report(d.name, d.namespace, self.values)


def run_mapper(cfg):
    mapper = Mapper(cfg)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    dmi_pb2_grpc.add_DeviceMapperServiceServicer_to_server(mapper, server)
    server.add_insecure_port("unix://" + cfg["socket"])
    server.start()
    emit("listening", socket=cfg["socket"])
    if cfg.get("register", True):
        mapper.register()
    server.wait_for_termination()


# ---------------------------------------------------------------- edgecore mode

def build_device(d):
    props = []
    for p in d["properties"]:
        props.append(dmi_pb2.DeviceProperty(
            name=p["name"],
            desired=dmi_pb2.TwinProperty(value=p["desired"]) if "desired" in p else None,
            visitors=dmi_pb2.VisitorConfig(protocolName=d["protocol"], configData=dmi_pb2.CustomizedValue(data={k: pack(v) for k, v in p.get("visitor", {}).items()})),
            collectCycle=p.get("collectCycle", 0), reportCycle=p.get("reportCycle", 0)))
    return dmi_pb2.Device(name=d["name"], namespace=d.get("namespace", "default"), spec=dmi_pb2.DeviceSpec(
        deviceModelReference=d["model"],
        protocol=dmi_pb2.ProtocolConfig(protocolName=d["protocol"], configData=dmi_pb2.CustomizedValue(data={k: pack(v) for k, v in d.get("protocolConfig", {}).items()})),
        properties=props))


def build_model(m):
    return dmi_pb2.DeviceModel(name=m["name"], namespace=m.get("namespace", "default"), spec=dmi_pb2.DeviceModelSpec(
        properties=[dmi_pb2.ModelProperty(name=p["name"], type=p["type"], accessMode=p.get("accessMode", "ReadOnly")) for p in m["properties"]]))


class EdgeCore(dmi_pb2_grpc.DeviceManagerServiceServicer):
    def __init__(self, cfg):
        self.cfg = cfg
        self.mapper = None

    def MapperRegister(self, request, context):
        m = request.mapper
        address = m.address.decode()
        emit("MapperRegister", name=m.name, protocol=m.protocol, address=address, withData=request.withData)
        self.mapper = dmi_pb2_grpc.DeviceMapperServiceStub(grpc.insecure_channel("unix://" + address))
        mine = [d for d in self.cfg.get("devices", []) if d["protocol"] == m.protocol]
        if not request.withData:
            return dmi_pb2.MapperRegisterResponse()
        return dmi_pb2.MapperRegisterResponse(modelList=[build_model(x) for x in self.cfg.get("models", [])], deviceList=[build_device(d) for d in mine])

    def ReportDeviceStatus(self, request, context):
        emit("status", device=request.deviceName, namespace=request.deviceNamespace,
             twins={t.propertyName: {"value": t.reported.value, "metadata": dict(t.reported.metadata)} for t in request.reportedDevice.twins})
        return dmi_pb2.ReportDeviceStatusResponse()

    def ReportDeviceStates(self, request, context):
        emit("state", device=request.deviceName, namespace=request.deviceNamespace, state=request.state)
        return dmi_pb2.ReportDeviceStatesResponse()


def run_edgecore(cfg):
    core = EdgeCore(cfg)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    dmi_pb2_grpc.add_DeviceManagerServiceServicer_to_server(core, server)
    server.add_insecure_port("unix://" + cfg["socket"])
    server.start()
    emit("listening", socket=cfg["socket"])
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        try:
            if core.mapper is None:
                raise RuntimeError("no mapper registered yet")
            if cmd["call"] == "UpdateDevice":
                core.mapper.UpdateDevice(dmi_pb2.UpdateDeviceRequest(device=build_device(cmd["device"])), timeout=10)
            elif cmd["call"] == "RegisterDevice":
                core.mapper.RegisterDevice(dmi_pb2.RegisterDeviceRequest(device=build_device(cmd["device"])), timeout=10)
            elif cmd["call"] == "RemoveDevice":
                core.mapper.RemoveDevice(dmi_pb2.RemoveDeviceRequest(deviceName=cmd["name"], deviceNamespace=cmd.get("namespace", "default")), timeout=10)
            emit("called", call=cmd["call"])
        except grpc.RpcError as e:
            emit("call_error", call=cmd["call"], code=e.code().name, details=e.details())
        except Exception as e:  # noqa: BLE001 - reported to the test, which fails on it
            emit("call_error", call=cmd.get("call"), code="LOCAL", details=str(e))
    server.stop(0)


if __name__ == "__main__":
    mode, cfg = sys.argv[1], json.loads(sys.argv[2])
    {"mapper": run_mapper, "edgecore": run_edgecore}[mode](cfg)
