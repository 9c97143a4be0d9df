// What one `vmsg stress` run is asked to do: shared by the run (src/cli/stress.ts) and the
// model comparison (src/cli/stress-models.ts) without either importing the other.
import type { BusModel } from '../model/bus-model.js';
import type { DmaMode } from '../device/dma.js';

export const NOTIFY_MODES = ['inband', 'oob'] as const;
export type NotifyMode = (typeof NOTIFY_MODES)[number];

export interface StressOptions {
  window: number;
  /** The device link is this modelled bus instead of the window geometry. */
  model?: BusModel;
  dma: DmaMode;
  notify: NotifyMode;
  durationS: number;
  suppression: boolean;
  inFlight: number;
  chunkBytes: number;
  spin: number;
}
