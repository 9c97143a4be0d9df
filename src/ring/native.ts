// Our in-process ring (TS twin of assembly/ring/native.ts; test/layout checks they agree).
export const NR_MAGIC_VALUE = 0x47524d56;
export const NR_VERSION_VALUE = 1;
export const NR_MAGIC = 0;
export const NR_VERSION = 4;
export const NR_FLAGS = 6;
export const NR_CAPACITY = 8;
export const NR_SLOT_SIZE = 12;
export const NR_CONS_BELL = 16;
export const NR_PROD_BELL = 20;
export const NR_PROD_INDEX = 64;
export const NR_CONS_INDEX = 128;
export const NR_PROD_CURSOR = 192;
export const NR_CONS_CURSOR = 256;
export const NR_SLOTS = 320;
export const NR_HEADER_SIZE = 320;
