// What a link (one TCP endpoint, serial bus, BLE adapter, OPC UA session) says of its health, as
// the mapper host measures it and the dashboard shows it. Here, in core, so the twin's API can
// carry it without knowing mappers.

export interface LinkHealth {
  /** The link's key: `tcp:host:port`, `serial:/dev/ttyUSB0`, an adapter or an endpoint URL. */
  link: string;
  protocol: string;
  devices: number;
  /** Requests started a second, over the last window (a second or more). */
  requestsPerSecond: number;
  /** Failed polls a second over the same window, and in all since the link started. */
  errorsPerSecond: number;
  errors: number;
  /** The 99th percentile of how late a poll started, over the last 256 polls (ms). */
  latenessP99Ms: number;
  /** The share of the window the link had a request on the wire (0..1). */
  utilisation: number;
}
