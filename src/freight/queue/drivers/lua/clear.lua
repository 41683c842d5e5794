--[[
clear.lua: delete every job of one queue (ready, delayed and reserved).

Key schema: see push.lua.

KEYS[1]  ready list
KEYS[2]  delayed sorted set
KEYS[3]  reserved sorted set
KEYS[4]  notify list

Returns how many jobs were deleted.
]]

local n = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return n
