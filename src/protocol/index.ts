// The virtio-msg protocol in TypeScript (docs/PROTOCOL.md §3–§8): constants, reasons, codec, validation, formatting.
export * from './constants.js';
export * from './reasons.js';
export * from './codec.js';
export * from './validate.js';
export * from './format.js';
