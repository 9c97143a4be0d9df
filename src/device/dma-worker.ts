// Piscina entry of the DMA pool (device/dma.ts, offload mode): runs one job against the guest
// memory the task names. The SharedArrayBuffer travels with the task (shared, not copied).
import { GuestMemory, type GuestMemoryDescriptor } from '../virtqueue/guest-memory.js';
import { runDmaJob, type DmaJob, type DmaResult } from './dma.js';

export default function dmaTask(task: { memory: GuestMemoryDescriptor; job: DmaJob }): DmaResult {
  return runDmaJob(task.job, new GuestMemory(task.memory));
}
