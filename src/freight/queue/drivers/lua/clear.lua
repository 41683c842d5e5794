--[[
clear.lua: delete every job of one queue (ready, delayed and reserved).

Key schema (every key of a queue shares the hash tag {<queue>}, so a queue lives in
one Redis Cluster slot, and every key reaches a script through KEYS):
  <prefix>:{<queue>}:ready      LIST  envelopes ready to run, oldest at the head
  <prefix>:{<queue>}:delayed    ZSET  envelopes waiting, score = available-at (Unix seconds)
  <prefix>:{<queue>}:reserved   ZSET  envelopes being run, score = reservation deadline

An envelope is "<attempts>|<id>|<payload>": the times the job was reserved, a random
id that keeps envelopes unique, and the payload exactly as the client encoded it.
A push is a plain RPUSH to the ready list (or ZADD to the delayed set): one native
command is atomic by itself and needs no script.

KEYS[1]  ready list
KEYS[2]  delayed sorted set
KEYS[3]  reserved sorted set

Returns how many jobs were deleted.
]]

local n = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return n
