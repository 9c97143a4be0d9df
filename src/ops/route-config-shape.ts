// The checked `vmsg route` configuration (command line and config file merged), the shape both
// src/ops/route-config.ts (flags, file loading) and src/ops/route-config-schema.ts (the file's checks) produce.
import type { RouterOptions } from '../router/options.js';
import type { LogLevel } from './logger.js';
import type { DeviceSpec } from '../device/builtin-devices.js';
import type { ClusterOptions } from '../cluster/cluster-options.js';

export interface RouteConfig {
  driverLinks: string[];
  deviceLinks: string[];
  devices: DeviceSpec[];
  durationS: number | undefined;
  capture: string | undefined;
  metricsPort: number | undefined;
  /** Address the metrics server binds; undefined = loopback (startMetricsServer's default). */
  metricsHost: string | undefined;
  logLevel: LogLevel | undefined;
  /** Cluster membership (README "Cluster"); undefined = a router on its own. */
  cluster: ClusterOptions | undefined;
  router: RouterOptions;
}

/** What the command line gave: undefined = not given (the file's value, if any, stays). */
export type RouteConfigOverrides = Partial<Omit<RouteConfig, 'router' | 'cluster'>> & { router?: RouterOptions; cluster?: Partial<ClusterOptions> };
