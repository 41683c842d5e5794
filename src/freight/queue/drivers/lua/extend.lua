--[[
extend.lua: move a running job's reservation deadline (the worker's heartbeat).

Key schema (every key of a queue shares the hash tag {<queue>}, so a queue lives in
one Redis Cluster slot, and every key reaches a script through KEYS):
  <prefix>:{<queue>}:ready      LIST  envelopes ready to run, oldest at the head
  <prefix>:{<queue>}:delayed    ZSET  envelopes waiting, score = available-at (Unix seconds)
  <prefix>:{<queue>}:reserved   ZSET  envelopes being run, score = reservation deadline

An envelope is "<attempts>|<id>|<payload>": the times the job was reserved, a random
id that keeps envelopes unique, and the payload exactly as the client encoded it.
A push is a plain RPUSH to the ready list (or ZADD to the delayed set): one native
command is atomic by itself and needs no script.

KEYS[1]  reserved sorted set
ARGV[1]  the reserved envelope (exactly as reserve.lua returned it)
ARGV[2]  the new deadline (Unix seconds)

Returns 1 when the reservation was extended, 0 when the job is no longer reserved
(it was acked or released, or its reservation expired and a reserve call already
moved it back to the ready list).
]]

if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 1
end
return 0
