-- Wireshark dissector for virtio-msg frames (spec revision 1, PATCH v1 layouts) as written by
-- `vmsg export-pcapng`: link type USER0 (147), one raw message per packet, 8-byte header
-- {type u8, msg_id u8, dev_num u16, token u16, msg_size u16} little-endian, then the payload.
--   wireshark -X lua_script:tools/wireshark/virtio-msg.lua capture.pcapng
--   tshark -2 -X lua_script:tools/wireshark/virtio-msg.lua -r capture.pcapng
-- Payload offsets below are those of docs/PROTOCOL.md §5/§6 (payload starts at 8).
-- Columns: Source / Destination are the link (the capture's interface description) and
-- "router", by the packet's direction. A request is paired with its answer on the same link
-- (same dev_num and token, opposite direction; a VMSG_EVT_REQUEST_FAILED answers the request it
-- names): virtio_msg.response_in on the request, virtio_msg.response_to and virtio_msg.time (the
-- response time, seconds) on the answer. Pairing is complete on the second pass (tshark -2;
-- Wireshark does it by itself).

local p = Proto("virtio_msg", "virtio-msg")

local TRANSPORT = {
  [0x02] = "GET_DEVICE_INFO", [0x03] = "GET_DEVICE_FEATURES", [0x04] = "SET_DRIVER_FEATURES",
  [0x05] = "GET_CONFIG", [0x06] = "SET_CONFIG", [0x07] = "GET_DEVICE_STATUS",
  [0x08] = "SET_DEVICE_STATUS", [0x09] = "GET_VQUEUE", [0x0a] = "SET_VQUEUE",
  [0x0b] = "RESET_VQUEUE", [0x0c] = "GET_SHM", [0x40] = "EVENT_CONFIG",
  [0x41] = "EVENT_AVAIL", [0x42] = "EVENT_USED",
}
local BUS = { [0x02] = "GET_DEVICES", [0x03] = "PING", [0x40] = "EVENT_DEVICE",
  [0xc1] = "VMSG_EVT_REQUEST_FAILED" } -- 0xC1: vmsg-router's implementation-defined failure event
local DEVICE_STATE = { [1] = "READY", [2] = "REMOVED" }
-- vmsg-router's drop and failure reasons (src/protocol/reasons.ts), by code.
local REASON = {
  [0] = "OK", [1] = "HDR_TRUNCATED", [2] = "MSG_SIZE_LT_HEADER", [3] = "MSG_SIZE_GT_BUFFER", [4] = "MSG_SIZE_GT_BUS_MAX",
  [5] = "RESERVED_TYPE_BITS", [6] = "UNSUPPORTED_MSG_ID", [7] = "RESPONSE_TO_EVENT", [8] = "WRONG_DIRECTION",
  [9] = "BUS_DEV_NUM_NONZERO", [10] = "UNVALIDATED_DEV_NUM", [11] = "GET_DEVICES_ALIGNMENT", [12] = "GET_DEVICES_NEXT_OFFSET",
  [13] = "GET_DEVICES_BITMAP_LENGTH", [14] = "PING_ECHO_MISMATCH", [15] = "PAYLOAD_TRUNCATED", [16] = "PAYLOAD_LENGTH_MISMATCH",
  [17] = "FEATURE_BITS_NOT_MULT_32", [18] = "CONFIG_RANGE", [19] = "NOTIF_DATA_NOT_NEGOTIATED", [20] = "VQ_CUR_GT_MAX",
  [21] = "REQUEST_RESPONSE_MISMATCH", [22] = "MSG_SIZE_GT_LINK_MAX", [23] = "SOURCE_GONE", [24] = "DRIVER_STALLED",
  [25] = "LEGACY_UNSUPPORTED", [26] = "LEGACY_NO_REPLY", [27] = "BUS_QUEUE_FULL", [32] = "UNMATCHED_RESPONSE",
  [33] = "LATE_RESPONSE", [34] = "RESPONSE_ID_MISMATCH", [35] = "SPOOFED_DEV_NUM", [36] = "NO_BOUND_DRIVER",
  [37] = "UNSUPPORTED_BUS_MSG", [38] = "DEVICE_REMOVED", [39] = "POLICY_DENIED", [40] = "TIMEOUT", [41] = "RING_CORRUPT",
  [42] = "ENDPOINT_GONE", [43] = "DUPLICATE_RESPONSE", [44] = "SHARD_RESTARTED", [45] = "DEVICE_BUSY",
  [46] = "ENDPOINT_STALLED", [47] = "ROUTER_CLOSED",
}

local f = {
  type = ProtoField.uint8("virtio_msg.type", "Type", base.HEX),
  response = ProtoField.bool("virtio_msg.type.response", "Response", 8, nil, 0x01),
  bus = ProtoField.bool("virtio_msg.type.bus", "Bus message", 8, nil, 0x02),
  msg_id = ProtoField.uint8("virtio_msg.msg_id", "Message ID", base.HEX),
  message = ProtoField.string("virtio_msg.message", "Message"),
  dev_num = ProtoField.uint16("virtio_msg.dev_num", "Device number", base.DEC),
  token = ProtoField.uint16("virtio_msg.token", "Token", base.DEC),
  msg_size = ProtoField.uint16("virtio_msg.msg_size", "Message size", base.DEC),
  payload = ProtoField.bytes("virtio_msg.payload", "Payload"),
}
local function u32(name, label, b) f[name] = ProtoField.uint32("virtio_msg." .. name, label, b or base.DEC) end
local function u16(name, label, b) f[name] = ProtoField.uint16("virtio_msg." .. name, label, b or base.DEC) end
local function u64(name, label) f[name] = ProtoField.uint64("virtio_msg." .. name, label, base.HEX) end
u32("device_id", "Device ID"); u32("vendor_id", "Vendor ID", base.HEX); u32("num_feature_bits", "Feature bits")
u32("config_size", "Config size"); u32("max_virtqueues", "Max virtqueues"); u16("admin_vq_start", "Admin VQ start")
u16("admin_vq_count", "Admin VQ count"); u32("block_index", "Feature block index"); u32("num_blocks", "Feature blocks")
u32("features", "Features", base.HEX); u32("generation", "Config generation"); u32("offset", "Offset")
u32("length", "Length"); u32("status", "Device status", base.HEX); u32("index", "Index"); u32("max_size", "Max size")
u32("cur_size", "Current size"); u32("size", "Queue size"); u64("desc_addr", "Descriptor area"); u64("driver_addr", "Driver area")
u64("device_addr", "Device area"); u32("vq_index", "Virtqueue"); u32("next_offset", "Next offset", base.HEX)
u32("shm_address", "SHM address", base.HEX); u16("dev_offset", "Window offset"); u16("dev_count", "Window count")
u16("dev_next_offset", "Next window offset"); u16("device_number", "Device number"); u16("device_bus_state", "Device bus state")
u32("ping_data", "Ping data", base.HEX); f.present = ProtoField.string("virtio_msg.present", "Devices present")
f.data = ProtoField.bytes("virtio_msg.data", "Data"); f.failed_msg_id = ProtoField.uint8("virtio_msg.failed_msg_id", "Failed message ID", base.HEX)
f.reason = ProtoField.uint8("virtio_msg.reason", "Failure reason", base.DEC, REASON); f.failed_token = ProtoField.uint16("virtio_msg.failed_token", "Driver token")
f.reason_name = ProtoField.string("virtio_msg.reason_name", "Failure reason name")
f.link = ProtoField.string("virtio_msg.link", "Link")
f.direction = ProtoField.string("virtio_msg.direction", "Direction")
f.response_in = ProtoField.framenum("virtio_msg.response_in", "Response in", base.NONE, frametype.RESPONSE)
f.response_to = ProtoField.framenum("virtio_msg.response_to", "Response to", base.NONE, frametype.REQUEST)
f.time = ProtoField.relative_time("virtio_msg.time", "Response time")

local fields = {}
for _, v in pairs(f) do fields[#fields + 1] = v end
p.fields = fields

local ef_short = ProtoExpert.new("virtio_msg.short", "Frame shorter than its layout", expert.group.MALFORMED, expert.severity.ERROR)
local ef_size = ProtoExpert.new("virtio_msg.size", "msg_size does not match the captured length", expert.group.MALFORMED, expert.severity.WARN)
p.experts = { ef_short, ef_size }

-- Add little-endian fields at payload offsets; stops (with an expert note) where the frame ends.
local function add(tree, buf, list)
  for _, item in ipairs(list) do
    local name, off, len = item[1], 8 + item[2], item[3]
    if buf:len() < off + len then tree:add_proto_expert_info(ef_short); return false end
    tree:add_le(f[name], buf(off, len))
  end
  return true
end

local function data(tree, buf, off)
  local n = buf:len() - (8 + off)
  if n > 0 then tree:add(f.data, buf(8 + off, n)) end
end

local function transport(tree, buf, id, resp)
  if id == 0x02 and resp then
    add(tree, buf, { { "device_id", 0, 4 }, { "vendor_id", 4, 4 }, { "num_feature_bits", 8, 4 }, { "config_size", 12, 4 },
      { "max_virtqueues", 16, 4 }, { "admin_vq_start", 20, 2 }, { "admin_vq_count", 22, 2 } })
  elseif (id == 0x03) or (id == 0x04 and not resp) then
    -- features follow in GET_DEVICE_FEATURES responses and SET_DRIVER_FEATURES requests
    if add(tree, buf, { { "block_index", 0, 4 }, { "num_blocks", 4, 4 } }) and (resp or id == 0x04) then
      for off = 16, buf:len() - 4, 4 do tree:add_le(f.features, buf(off, 4)) end
    end
  elseif id == 0x05 then
    if resp then if add(tree, buf, { { "generation", 0, 4 }, { "offset", 4, 4 }, { "length", 8, 4 } }) then data(tree, buf, 12) end
    else add(tree, buf, { { "offset", 0, 4 }, { "length", 4, 4 } }) end
  elseif id == 0x06 then
    if add(tree, buf, { { "generation", 0, 4 }, { "offset", 4, 4 }, { "length", 8, 4 } }) then data(tree, buf, 12) end
  elseif (id == 0x07 and resp) or id == 0x08 then
    add(tree, buf, { { "status", 0, 4 } })
  elseif id == 0x09 then
    if resp then add(tree, buf, { { "index", 0, 4 }, { "max_size", 4, 4 }, { "cur_size", 8, 4 }, { "desc_addr", 16, 8 },
      { "driver_addr", 24, 8 }, { "device_addr", 32, 8 } })
    else add(tree, buf, { { "index", 0, 4 } }) end
  elseif id == 0x0a and not resp then
    add(tree, buf, { { "index", 0, 4 }, { "size", 8, 4 }, { "desc_addr", 16, 8 }, { "driver_addr", 24, 8 }, { "device_addr", 32, 8 } })
  elseif id == 0x0b and not resp then
    add(tree, buf, { { "index", 0, 4 } })
  elseif id == 0x0c then
    if resp then add(tree, buf, { { "index", 0, 4 }, { "length", 4, 4 }, { "shm_address", 8, 4 } })
    else add(tree, buf, { { "index", 0, 4 } }) end
  elseif id == 0x40 then
    if add(tree, buf, { { "status", 0, 4 }, { "generation", 4, 4 }, { "offset", 8, 4 }, { "length", 12, 4 } }) then data(tree, buf, 16) end
  elseif id == 0x41 then
    add(tree, buf, { { "vq_index", 0, 4 }, { "next_offset", 4, 4 } })
  elseif id == 0x42 then
    add(tree, buf, { { "vq_index", 0, 4 } })
  end
end

local function bus(tree, buf, id, resp, pinfo)
  if id == 0x02 then
    if resp then
      if add(tree, buf, { { "dev_offset", 0, 2 }, { "dev_count", 2, 2 }, { "dev_next_offset", 4, 2 } }) then
        local base_dev, present = buf(8, 2):le_uint(), {}
        for i = 0, buf:len() - 15 do
          local byte = buf(14 + i, 1):uint()
          for bit = 0, 7 do if bit32.band(byte, bit32.lshift(1, bit)) ~= 0 then present[#present + 1] = tostring(base_dev + i * 8 + bit) end end
        end
        tree:add(f.present, table.concat(present, ","))
      end
    else add(tree, buf, { { "dev_offset", 0, 2 }, { "dev_count", 2, 2 } }) end
  elseif id == 0x03 then
    add(tree, buf, { { "ping_data", 0, 4 } })
  elseif id == 0x40 then
    if add(tree, buf, { { "device_number", 0, 2 }, { "device_bus_state", 2, 2 } }) then
      local st = buf(10, 2):le_uint()
      pinfo.cols.info:append(" device " .. buf(8, 2):le_uint() .. " " .. (DEVICE_STATE[st] or string.format("0x%04x", st)))
    end
  elseif id == 0xc1 and buf:len() >= 16 then
    tree:add_le(f.device_number, buf(8, 2)); tree:add(f.failed_msg_id, buf(10, 1))
    local code = buf(11, 1):uint()
    local rname = REASON[code] or string.format("REASON_%d", code)
    tree:add(f.reason, buf(11, 1)); tree:add(f.reason_name, buf(11, 1), rname); tree:add_le(f.failed_token, buf(12, 2))
    pinfo.cols.info:append(" " .. rname .. " (dev=" .. buf(8, 2):le_uint() .. " tok=" .. buf(12, 2):le_uint() .. ")")
  end
end

-- Where each packet came from: the capture's interface (one per router link) and direction.
local fi_iface_id = Field.new("frame.interface_id")
local fi_iface_desc = Field.new("frame.interface_description")
local fi_iface_name = Field.new("frame.interface_name")
local fi_dir = Field.new("frame.packet_flags_direction")

-- Pairing state, filled on the first pass over the file (pinfo.visited false) and read after.
local open = {}      -- key -> { frame, time, dir } of the newest unanswered request
local answer = {}    -- request frame number -> response frame number
local request = {}   -- response frame number -> { frame, delta }
function p.init() open, answer, request = {}, {}, {} end

local function pair_key(iface, isBus, dev, tok) return iface .. (isBus and "b" or "t") .. dev .. ":" .. tok end

local function pairing(pinfo, iface, dir, isBus, isResp, isEvent, id, buf)
  if pinfo.visited then return end
  local n = pinfo.number
  if not isResp and not isEvent then
    open[pair_key(iface, isBus, buf(2, 2):le_uint(), buf(4, 2):le_uint())] = { frame = n, time = pinfo.abs_ts, dir = dir }
    return
  end
  local key
  if isResp then key = pair_key(iface, isBus, buf(2, 2):le_uint(), buf(4, 2):le_uint())
  elseif isBus and id == 0xc1 and buf:len() >= 16 then key = pair_key(iface, false, buf(8, 2):le_uint(), buf(12, 2):le_uint())
  else return end
  local req = open[key]
  if req == nil or req.dir == dir then return end
  open[key] = nil
  answer[req.frame] = n
  local dt = pinfo.abs_ts - req.time
  local secs = math.floor(dt)
  request[n] = { frame = req.frame, delta = NSTime.new(secs, math.floor((dt - secs) * 1e9 + 0.5)) }
end

function p.dissector(buf, pinfo, root)
  if buf:len() < 8 then return 0 end
  pinfo.cols.protocol = "virtio-msg"
  local t = root:add(p, buf(), "virtio-msg")
  local h = t:add(f.type, buf(0, 1))
  h:add(f.response, buf(0, 1)); h:add(f.bus, buf(0, 1))
  local ty, id = buf(0, 1):uint(), buf(1, 1):uint()
  local isResp, isBus = bit32.band(ty, 1) ~= 0, bit32.band(ty, 2) ~= 0
  local name = (isBus and BUS[id]) or (not isBus and TRANSPORT[id]) or string.format("IMPL_DEFINED(0x%02x)", id)
  t:add(f.msg_id, buf(1, 1)); t:add(f.message, name)
  t:add_le(f.dev_num, buf(2, 2)); t:add_le(f.token, buf(4, 2))
  local size = t:add_le(f.msg_size, buf(6, 2))
  if buf(6, 2):le_uint() ~= buf:len() then size:add_proto_expert_info(ef_size) end
  local kind = isResp and "RESP" or (bit32.band(id, 0x40) ~= 0 and "EVT" or "REQ")
  pinfo.cols.info = string.format("%s %s dev=%d tok=%d", kind, name, buf(2, 2):le_uint(), buf(4, 2):le_uint())
  -- Source / destination: the link and the router, by direction (inbound = towards the router).
  local iid = fi_iface_id(); local desc = fi_iface_desc(); local iname = fi_iface_name(); local d = fi_dir()
  -- The interface fields exist only when a tree is built (not on tshark's first pass without
  -- -R); pinfo.p2p_dir (1 = inbound, towards the router) always does. Pairing keys on the
  -- interface when it is known and on dev_num, token and direction in any case.
  local iface = iid and tostring(iid.value) or "?"
  local link = (desc and desc.value) or (iname and iname.value) or ("link" .. iface)
  link = link:gsub("^%a+ link: ", "")
  local dir = pinfo.p2p_dir
  if d ~= nil then dir = (d.value == 1) and 1 or 0 end
  local toRouter = dir ~= 0
  t:add(f.link, link); t:add(f.direction, toRouter and "to router" or "from router")
  pinfo.cols.src = toRouter and link or "router"
  pinfo.cols.dst = toRouter and "router" or link
  if buf:len() > 8 then t:add(f.payload, buf(8)) end
  if isBus then bus(t, buf, id, isResp, pinfo) else transport(t, buf, id, isResp) end
  local isEvent = bit32.band(id, 0x40) ~= 0
  pairing(pinfo, iface, dir, isBus, isResp, isEvent, id, buf)
  local resp = answer[pinfo.number]
  if resp ~= nil then t:add(f.response_in, resp):set_generated() end
  local req = request[pinfo.number]
  if req ~= nil then
    t:add(f.response_to, req.frame):set_generated()
    t:add(f.time, req.delta):set_generated()
  end
  return buf:len()
end

local encaps = DissectorTable.get("wtap_encap")
encaps:add((wtap_encaps or wtap).USER0, p)
