--[[
release.lua: put one reserved job back, ready now or after a delay.

Key schema: see push.lua. Envelopes are "<attempts>|<id>|<payload>".

KEYS[1]  reserved sorted set
KEYS[2]  ready list
KEYS[3]  delayed sorted set
KEYS[4]  notify list
ARGV[1]  the reserved envelope (exactly as reserve.lua returned it)
ARGV[2]  the envelope to store (carrying the attempts count the worker decided)
ARGV[3]  available-at (Unix seconds), or "" to make it ready now at the head of the list

Nothing happens when ARGV[1] is no longer reserved (its reservation expired and the
job went back to the queue, or it was acked): the job is never duplicated.
Returns 1 when the job was released, 0 when it was no longer reserved.
]]

if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
if ARGV[3] == '' then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  if redis.call('LLEN', KEYS[4]) == 0 then
    redis.call('RPUSH', KEYS[4], 1)
  end
else
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
end
return 1
