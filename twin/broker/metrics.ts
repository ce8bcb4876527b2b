// The embedded broker's Prometheus metrics (edgetwin_broker_*), documented in docs/configuration.md.

import { Gauge, type Registry } from 'prom-client';
import { counter } from '../metrics.ts';

export function brokerMetrics(registry: Registry, connectedClients: () => number) {
  if (!registry.getSingleMetric('edgetwin_broker_clients')) {
    new Gauge({
      name: 'edgetwin_broker_clients',
      help: 'MQTT clients connected to the embedded broker',
      registers: [registry],
      collect() {
        this.set(connectedClients());
      },
    });
  }
  return {
    dropped: counter(registry, 'edgetwin_broker_dropped_messages_total', 'Messages the embedded broker did not deliver or keep, by reason (slow_client: a full outgoing queue; retained_limit: not kept as retained; stored_limit: not stored for a persistent session over broker.maxStoredMessages/maxStoredBytes)', ['reason']),
    slowDisconnected: counter(registry, 'edgetwin_broker_slow_clients_disconnected_total', 'Clients disconnected because their outgoing queue exceeded broker.maxQueueBytes or broker.maxQueueMessages'),
    oversized: counter(registry, 'edgetwin_broker_oversized_packets_total', 'Connections closed for announcing a packet bigger than broker.maxPacketBytes'),
    refused: counter(registry, 'edgetwin_broker_refused_total', 'Connects, publishes and subscriptions the embedded broker refused, by action', ['action']),
  };
}
