// virtio-blk wire layout (virtio 1.2 §5.2, device id 2): request header, status values, config
// space and feature bits. The block device (device/block.ts) and the block driver
// (driver/block-driver.ts) both read the bytes only through these names.

export const VIRTIO_ID_BLOCK = 2;
/** Sectors are always 512 bytes, whatever blk_size says. */
export const SECTOR_SIZE = 512;

// Request: header (device-readable) | data | status u8 (device-writable, last byte of the chain).
export const BLK_REQ_TYPE = 0;
export const BLK_REQ_RESERVED = 4;
export const BLK_REQ_SECTOR = 8;
export const BLK_REQ_HEADER_SIZE = 16;
export const BLK_STATUS_SIZE = 1;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
/** GET_ID writes up to 20 bytes of identification (not NUL-terminated when 20 long). */
export const VIRTIO_BLK_ID_BYTES = 20;

export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

// Config space (the fields up to num_queues).
export const BLK_CFG_CAPACITY = 0; // u64, in 512-byte sectors
export const BLK_CFG_SIZE_MAX = 8; // u32, largest segment (VIRTIO_BLK_F_SIZE_MAX)
export const BLK_CFG_SEG_MAX = 12; // u32, most data segments per request (VIRTIO_BLK_F_SEG_MAX)
export const BLK_CFG_GEOMETRY = 16; // cylinders u16, heads u8, sectors u8
export const BLK_CFG_BLK_SIZE = 20; // u32 (VIRTIO_BLK_F_BLK_SIZE)
export const BLK_CFG_TOPOLOGY = 24; // 8 bytes
export const BLK_CFG_WRITEBACK = 32; // u8, driver-writable with VIRTIO_BLK_F_CONFIG_WCE
export const BLK_CFG_NUM_QUEUES = 34; // u16 (VIRTIO_BLK_F_MQ)
export const BLK_CONFIG_SIZE = 36;

export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_CONFIG_WCE = 11;
