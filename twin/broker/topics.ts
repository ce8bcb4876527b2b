// MQTT topic filter matching, and the KubeEdge topics the gateway serves or owns.

/** True when `topic` (no wildcards) matches `filter` (+ and # allowed). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1]: a filter starting with a wildcard never matches a topic starting with $.
  if ((f[0] === '#' || f[0] === '+') && topic.startsWith('$')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** True when some topic could match both filters: a subscription that an ACL rule may serve in part. */
export function filtersIntersect(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === '#' || y[i] === '#') return true;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== '+' && y[i] !== '+' && x[i] !== y[i]) return false;
  }
  return true;
}

/** The requests any MQTT application may send to the gateway (KubeEdge's EventBus topics). */
export const REQUEST_TOPICS = [
  '$hw/events/device/+/+/twin/update',
  '$hw/events/device/+/+/twin/get',
  '$hw/events/device/+/+/state/update',
  '$hw/events/node/+/membership/get',
];

/** Telemetry a KubeEdge mapper publishes for its device; `ns/name` are levels 3 and 4. */
export const DATA_UPDATE = '$ke/events/device/+/+/data/update';

/** Namespaces where the gateway alone publishes, except the requests above. */
export const GATEWAY_NAMESPACES = ['$hw/', '$ke/', '$SYS/'];

export const isRequestTopic = (topic: string) => REQUEST_TOPICS.some((f) => topicMatches(f, topic));
export const isGatewayOwned = (topic: string) => GATEWAY_NAMESPACES.some((p) => topic.startsWith(p)) && !isRequestTopic(topic);

/** `ns/name` of a `$ke/events/device/ns/name/data/update` topic, else undefined. */
export function dataUpdateDevice(topic: string): string | undefined {
  if (!topicMatches(DATA_UPDATE, topic)) return undefined;
  const parts = topic.split('/');
  return `${parts[3]}/${parts[4]}`;
}
