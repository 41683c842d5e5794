--[[
release.lua: put one reserved job back, ready now or after a delay.

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
KEYS[2]  ready list
KEYS[3]  delayed sorted set
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
else
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
end
return 1
