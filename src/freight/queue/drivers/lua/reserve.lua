--[[
reserve.lua: make due jobs ready, then reserve up to N ready jobs for one worker.

Key schema: see push.lua (ready LIST, delayed ZSET, reserved ZSET, notify LIST, all
under the queue's hash tag). Envelopes are "<attempts>|<id>|<payload>".

KEYS[1]  ready list
KEYS[2]  delayed sorted set (score = available-at)
KEYS[3]  reserved sorted set (score = reservation deadline)
KEYS[4]  notify list
ARGV[1]  now (Unix seconds, from the client's clock)
ARGV[2]  reservation deadline for the jobs reserved now (now + retry_after)
ARGV[3]  N: the most jobs to reserve
ARGV[4]  the most jobs to migrate from each sorted set in this call

Steps, atomically:
  1. delayed jobs whose available-at <= now move to the tail of the ready list;
  2. reserved jobs whose deadline <= now (their worker died or stalled) move to the
     tail of the ready list, keeping the attempts they have already used;
  3. up to N envelopes are popped from the head of the ready list, their attempts
     count is incremented, and they are added to the reserved set with the deadline;
  4. if jobs remain ready a wake-up token is left for the next waiting worker,
     otherwise stale tokens are dropped.

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
  redis.call('DEL', KEYS[4])
  return {}
end

local deadline = ARGV[2]
local reserved = {}
local scored = {}
for i, envelope in ipairs(popped) do
  local bar = string.find(envelope, '|', 1, true)
  local attempts = bar and tonumber(string.sub(envelope, 1, bar - 1))
  local member
  if attempts then
    member = (attempts + 1) .. string.sub(envelope, bar)
  else
    -- not an envelope (pushed by something else): count it as never reserved
    member = '1|-|' .. envelope
  end
  reserved[i] = member
  scored[2 * i - 1] = deadline
  scored[2 * i] = member
end
for first = 1, #scored, 2000 do
  redis.call('ZADD', KEYS[3], unpack(scored, first, math.min(first + 1999, #scored)))
end

if redis.call('LLEN', KEYS[1]) > 0 then
  if redis.call('LLEN', KEYS[4]) == 0 then
    redis.call('RPUSH', KEYS[4], 1)
  end
else
  redis.call('DEL', KEYS[4])
end
return reserved
