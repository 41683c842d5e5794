--[[
push.lua: add jobs to one queue, ready now or delayed, and wake one waiting worker.

Key schema (every key of a queue shares the hash tag {<queue>}, so a queue lives in
one Redis Cluster slot):
  <prefix>:{<queue>}:ready      LIST  envelopes ready to run, oldest at the head
  <prefix>:{<queue>}:delayed    ZSET  envelopes waiting, score = available-at (Unix seconds)
  <prefix>:{<queue>}:reserved   ZSET  envelopes being run, score = reservation deadline
  <prefix>:{<queue>}:notify     LIST  at most one wake-up token for workers blocked in BLPOP

An envelope is "<attempts>|<id>|<payload>": the times the job was reserved, a random
id that keeps envelopes unique, and the payload exactly as the client encoded it.

KEYS[1]  ready list
KEYS[2]  delayed sorted set
KEYS[3]  notify list
ARGV[1]  n: how many ready envelopes follow
ARGV[2 .. n+1]           envelopes to append to the ready list
ARGV[n+2 ..] in pairs    available-at, envelope: jobs for the delayed set

Returns the number of jobs added.
]]

local n = tonumber(ARGV[1])
local last = n + 1
for first = 2, last, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, first, math.min(first + 999, last)))
end
local total = #ARGV
for first = last + 1, total, 2000 do
  redis.call('ZADD', KEYS[2], unpack(ARGV, first, math.min(first + 1999, total)))
end
if n > 0 and redis.call('LLEN', KEYS[3]) == 0 then
  redis.call('RPUSH', KEYS[3], 1)
end
return n + (total - last) / 2
