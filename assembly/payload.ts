// Payload fields of the standard messages the hot path reads or writes in place, as offsets
// from the start of the frame (the 8-byte header comes first). Exported by assembly/index.ts
// into the generated src/wasm/layout.ts, where src/client/ takes its readers' offsets from.

// EVENT_AVAIL (docs/PROTOCOL.md §5), driver to device: {vq_index u32, next_offset u32}.
export const EA_VQ_INDEX: u32 = 8;
export const EA_NEXT_OFFSET: u32 = 12;
export const EA_SIZE: u32 = 16;

// EVENT_DEVICE (docs/PROTOCOL.md §6), router to driver: {device_number u16, device_bus_state u16}.
export const ED_DEVICE: u32 = 8;
export const ED_STATE: u32 = 10;
export const ED_SIZE: u32 = 12;
