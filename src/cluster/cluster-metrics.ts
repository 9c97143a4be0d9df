// Prometheus gauges of a cluster node (`vmsg route --cluster ... --metrics PORT`), read at
// scrape time: whether the directory follows NATS (0 = frozen), how often it froze, nodes
// alive, remote devices attached here, own devices published, entries ignored, failed writes.
import { Gauge, type Registry } from 'prom-client';
import type { ClusterNode, ClusterStats } from './cluster-node.js';

const GAUGES: { name: string; help: string; value: (s: ClusterStats) => number }[] = [
  { name: 'vmsg_cluster_directory_up', help: '1 while the NATS directory is reachable, 0 while it is frozen (routing goes on)', value: (s) => (s.directoryUp ? 1 : 0) },
  { name: 'vmsg_cluster_directory_frozen_total', help: 'times the directory was frozen (NATS unreachable)', value: (s) => s.frozenTotal },
  { name: 'vmsg_cluster_nodes_alive', help: 'other routers whose liveness entry is fresh', value: (s) => s.nodesAlive },
  { name: 'vmsg_cluster_remote_devices', help: 'devices of other routers attached here now', value: (s) => s.remoteDevices },
  { name: 'vmsg_cluster_published_devices', help: 'own devices listed in the directory', value: (s) => s.publishedDevices },
  { name: 'vmsg_cluster_ignored_entries_total', help: 'directory entries ignored (malformed or naming another node)', value: (s) => s.ignoredEntries },
  { name: 'vmsg_cluster_write_failures_total', help: 'directory writes that failed (retried)', value: (s) => s.writeFailures },
];

export function registerClusterMetrics(registry: Registry, node: ClusterNode): void {
  for (const g of GAUGES) {
    new Gauge({
      name: g.name, help: g.help, labelNames: ['node'], registers: [registry],
      collect() {
        const s = node.stats();
        this.set({ node: s.node }, g.value(s));
      },
    });
  }
}
