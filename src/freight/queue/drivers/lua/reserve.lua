--[[
reserve.lua: make due jobs ready, then reserve up to N ready jobs for one worker.

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
KEYS[2]  delayed sorted set (score = available-at)
KEYS[3]  reserved sorted set (score = reservation deadline)
ARGV[1]  now (Unix seconds, from the client's clock)
ARGV[2]  reservation deadline for the jobs reserved now (now + retry_after)
ARGV[3]  N: the most jobs to reserve
ARGV[4]  the most jobs to migrate from each sorted set in this call

Steps, atomically:
  1. delayed jobs whose available-at <= now move to the tail of the ready list;
  2. reserved jobs whose deadline <= now (their worker died or stalled) move to the
     tail of the ready list, keeping the attempts they have already used;
  3. up to N envelopes are popped from the head of the ready list, their attempts
     count is incremented, and they are added to the reserved set with the deadline.

Returns the reserved envelopes (attempts already incremented), oldest first.
]]

local function migrate(from, to, now, batch)
  local due = redis.call('ZRANGEBYSCORE', from, '-inf', now, 'LIMIT', 0, batch)
  local n = #due
  if n > 0 then
    for first = 1, n, 1000 do
      redis.call('RPUSH', to, unpack(due, first, math.min(first + 999, n)))
    end
    redis.call('ZREMRANGEBYRANK', from, 0, n - 1)
  end
end

migrate(KEYS[2], KEYS[1], ARGV[1], ARGV[4])
migrate(KEYS[3], KEYS[1], ARGV[1], ARGV[4])

local popped = redis.call('LPOP', KEYS[1], ARGV[3])
if not popped then
  return {}
end

local deadline = ARGV[2]
local reserved = {}
local scored = {}
for i, envelope in ipairs(popped) do
  -- an envelope starts with 1 to 9 digits and has two bars; anything else ("1.5|...",
  -- "1e300|...", "5|x", invalid UTF-8) was written by something else: it is wrapped
  -- whole as a payload, counted as reserved once, and the worker records why it fails
  local attempts, rest = string.match(envelope, '^(%d%d?%d?%d?%d?%d?%d?%d?%d?)(|[^|]*|.*)$')
  local member
  if attempts then
    member = (tonumber(attempts) + 1) .. rest
  else
    member = '1|-|' .. envelope
  end
  reserved[i] = member
  scored[2 * i - 1] = deadline
  scored[2 * i] = member
end
for first = 1, #scored, 2000 do
  redis.call('ZADD', KEYS[3], unpack(scored, first, math.min(first + 1999, #scored)))
end
return reserved
