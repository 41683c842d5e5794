--[[
extend.lua: move a running job's reservation deadline (the worker's heartbeat).

Key schema: see push.lua. Envelopes are "<attempts>|<id>|<payload>".

KEYS[1]  reserved sorted set
ARGV[1]  the reserved envelope (exactly as reserve.lua returned it)
ARGV[2]  the new deadline (Unix seconds)

Returns 1 when the reservation was extended, 0 when the job is no longer reserved
(it was acked, released, or its reservation had already expired and it went back).
]]

if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 1
end
return 0
