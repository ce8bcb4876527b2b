// The CustomResourceDefinitions edgetwin's cloud uses, as data: devices.kubeedge.io/v1beta1
// Device, DeviceModel and DeviceStatus, and reliablesyncs.kubeedge.io/v1alpha1 ObjectSync and
// ClusterObjectSync. Field names are KubeEdge's (v1.23), so KubeEdge users' YAML and tools keep
// working; what edgetwin adds is declared, never free-form, except where KubeEdge's own schema
// preserves unknown fields (protocol configData, DeviceStatus extensions' own keys are declared).
// deploy/crds/*.yaml is this data printed (`edgetwin cloud install-crds --dry-run`); a test
// checks the two agree.

type Schema = Record<string, unknown>;

const str = (description?: string): Schema => (description ? { type: 'string', description } : { type: 'string' });
const int64 = (description?: string): Schema => ({ type: 'integer', format: 'int64', ...(description ? { description } : {}) });
const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({ type: 'object', properties, ...extra });
const arr = (items: Schema, description?: string): Schema => ({ type: 'array', items, ...(description ? { description } : {}) });
const stringMap = (description?: string): Schema => ({ type: 'object', additionalProperties: { type: 'string' }, ...(description ? { description } : {}) });
/** Protocol-specific settings: the one place whose content the API server does not check. */
const configData = (description: string): Schema => ({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });

const twinValue = (what: string): Schema => obj({
  value: str(`The ${what} value, as a string.`),
  metadata: stringMap('timestamp (ms), type; edgetwin adds quality, reconcile, reason (reported) and origin (desired).'),
}, { required: ['value'] });

const pushMethod = obj({
  mqtt: obj({ address: str('broker address, e.g. tcp://127.0.0.1:1883'), topic: str(), qos: { type: 'integer', format: 'int32' }, retained: bool() }),
  http: obj({ hostName: str(), port: int64(), requestPath: str(), timeout: int64() }),
  otel: obj({ endpointURL: str() }),
  dbMethod: obj({
    influxdb2: obj({
      influxdb2ClientConfig: obj({ url: str(), org: str(), bucket: str() }),
      influxdb2DataConfig: obj({ measurement: str(), tag: stringMap(), fieldKey: str() }),
    }),
    redis: obj({ redisClientConfig: obj({ addr: str(), db: { type: 'integer' }, poolsize: { type: 'integer' }, minIdleConns: { type: 'integer' } }) }),
    TDEngine: obj({ TDEngineClientConfig: obj({ addr: str(), dbName: str() }) }),
    mysql: obj({ mysqlClientConfig: obj({ addr: str(), database: str(), userName: str() }) }),
    Kwdb: obj({ KWDBClientConfig: obj({ addr: str(), dbName: str() }) }),
  }),
  // KubeEdge's own schema leaves this one open (its content belongs to an external service).
  anomalyDetection: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
}, { description: 'Where the mapper pushes the values besides the twin (KubeEdge\'s key casing).' });

const deviceSpec = obj({
  deviceModelRef: obj({ name: str('The DeviceModel in the same namespace.') }),
  nodeName: str('The gateway node the device is bound to.'),
  protocol: obj({ protocolName: str('modbus, opcua, ble, serial, virtual, ...'), configData: configData('Protocol specific connection settings.') }),
  properties: arr(obj({
    name: str(),
    desired: twinValue('desired'),
    visitors: obj({ protocolName: str(), configData: configData('Protocol specific access to this property.') }),
    reportCycle: int64('Milliseconds between reports (KubeEdge\'s docs also write nanoseconds; values above 10^7 are read as such).'),
    collectCycle: int64('Milliseconds between reads (as reportCycle).'),
    reportToCloud: bool(),
    pushMethod,
  }, { required: ['name'] })),
  methods: arr(obj({ name: str(), description: str(), propertyNames: arr(str()) })),
  stateReport: obj({ reportToCloud: bool(), reportCycle: int64() }),
});

const deviceModelSpec = obj({
  protocol: str(),
  protocolConfigData: configData('Protocol settings shared by the model\'s devices.'),
  properties: arr(obj({
    name: str(),
    description: str(),
    type: { type: 'string', enum: ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES', 'STREAM'] },
    accessMode: { type: 'string', enum: ['ReadWrite', 'ReadOnly'] },
    minimum: str(),
    maximum: str(),
    unit: str(),
  }, { required: ['name'] })),
});

const count = (what: string): Schema => ({ type: 'integer', format: 'int32', minimum: 0, description: what });

const deviceStatusStatus = obj({
  twins: arr(obj({
    propertyName: str(),
    reported: twinValue('reported'),
    observedDesired: twinValue('desired value the gateway works towards'),
  }, { required: ['propertyName'] })),
  state: str('online, offline, ok, unknown, unhealthy'),
  lastOnlineTime: str('RFC 3339'),
  extensions: obj({
    summary: obj({
      reported: count('Properties with a reported value.'),
      pending: count('Properties whose desired value is on its way to the device.'),
      applied: count('Properties whose desired value the device holds.'),
      failed: count('Properties whose desired value the device refused.'),
      drifted: count('Properties whose device value left the applied desired value.'),
    }),
    error: obj({ message: str(), field: str('The path in the Device, e.g. spec.properties[0].visitors.configData.register.'), time: str() }),
    lastWriteTime: str('When the cloud last wrote this status (RFC 3339).'),
  }, { description: 'What edgetwin adds to KubeEdge\'s DeviceStatus.' }),
});

function rootSchema(spec: Schema, status?: Schema): Schema {
  return obj({
    apiVersion: str(),
    kind: str(),
    metadata: { type: 'object' },
    spec,
    ...(status ? { status } : {}),
  });
}

export interface PrinterColumn { name: string; type: string; jsonPath: string; priority?: number; description?: string }

function crd(group: string, version: string, kind: string, plural: string, scope: 'Namespaced' | 'Cluster', schema: Schema, opts: { status?: boolean; columns?: PrinterColumn[]; shortNames?: string[] } = {}): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}`, labels: { 'app.kubernetes.io/part-of': 'edgetwin' } },
    spec: {
      group,
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), ...(opts.shortNames ? { shortNames: opts.shortNames } : {}) },
      scope,
      versions: [{
        name: version,
        served: true,
        storage: true,
        schema: { openAPIV3Schema: schema },
        ...(opts.status ? { subresources: { status: {} } } : {}),
        ...(opts.columns ? { additionalPrinterColumns: [...opts.columns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }] } : {}),
      }],
    },
  };
}

export const DEVICES_GROUP = 'devices.kubeedge.io';
export const DEVICES_VERSION = 'v1beta1';
export const SYNC_GROUP = 'reliablesyncs.kubeedge.io';
export const SYNC_VERSION = 'v1alpha1';

const syncSpec = obj({ objectAPIVersion: str(), objectKind: str(), objectName: str() });
const syncStatus = obj({ objectResourceVersion: str('The resourceVersion the node acknowledged.') });
const syncColumns: PrinterColumn[] = [
  { name: 'Kind', type: 'string', jsonPath: '.spec.objectKind' },
  { name: 'Object', type: 'string', jsonPath: '.spec.objectName' },
  { name: 'Acked', type: 'string', jsonPath: '.status.objectResourceVersion' },
];

/** The CRDs in install order; each is printed to deploy/crds/{metadata.name}.yaml. */
export function edgetwinCrds(): Array<Record<string, unknown>> {
  return [
    crd(DEVICES_GROUP, DEVICES_VERSION, 'DeviceModel', 'devicemodels', 'Namespaced', rootSchema(deviceModelSpec), {
      columns: [{ name: 'Protocol', type: 'string', jsonPath: '.spec.protocol' }],
    }),
    crd(DEVICES_GROUP, DEVICES_VERSION, 'Device', 'devices', 'Namespaced', rootSchema(deviceSpec, obj({ reportToCloud: bool(), reportCycle: int64() }, { description: 'Kept for KubeEdge before 1.23; the status lives in DeviceStatus.' })), {
      status: true,
      columns: [
        { name: 'Node', type: 'string', jsonPath: '.spec.nodeName' },
        { name: 'Protocol', type: 'string', jsonPath: '.spec.protocol.protocolName' },
        { name: 'Model', type: 'string', jsonPath: '.spec.deviceModelRef.name' },
      ],
    }),
    crd(DEVICES_GROUP, DEVICES_VERSION, 'DeviceStatus', 'devicestatuses', 'Namespaced', rootSchema(obj({}, { description: 'Empty: a DeviceStatus is named and owned by its Device.' }), deviceStatusStatus), {
      status: true,
      columns: [
        { name: 'State', type: 'string', jsonPath: '.status.state' },
        { name: 'Last-Online', type: 'string', jsonPath: '.status.lastOnlineTime' },
        { name: 'Reported', type: 'integer', jsonPath: '.status.extensions.summary.reported' },
        { name: 'Pending', type: 'integer', jsonPath: '.status.extensions.summary.pending' },
        { name: 'Applied', type: 'integer', jsonPath: '.status.extensions.summary.applied' },
        { name: 'Failed', type: 'integer', jsonPath: '.status.extensions.summary.failed' },
        { name: 'Drifted', type: 'integer', jsonPath: '.status.extensions.summary.drifted', priority: 1 },
        { name: 'Error', type: 'string', jsonPath: '.status.extensions.error.message', priority: 1 },
      ],
    }),
    crd(SYNC_GROUP, SYNC_VERSION, 'ObjectSync', 'objectsyncs', 'Namespaced', rootSchema(syncSpec, syncStatus), { status: true, columns: syncColumns }),
    crd(SYNC_GROUP, SYNC_VERSION, 'ClusterObjectSync', 'clusterobjectsyncs', 'Cluster', rootSchema(syncSpec, syncStatus), { status: true, columns: syncColumns }),
  ];
}
