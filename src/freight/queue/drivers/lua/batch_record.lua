--[[
batch_record.lua: count finished jobs of a batch, atomically.

Key schema (both keys of a batch share the hash tag {<batch id>}, so a batch lives in
one Redis Cluster slot):
  <prefix>:batch:{<id>}        HASH  name, total, pending, failed, options (JSON),
                                     allow_failures ("1"/"0"), created_at,
                                     cancelled_at, finished_at
  <prefix>:batch:{<id>}:done   SET   ids of the jobs already counted

KEYS[1]  the batch hash
KEYS[2]  the set of counted job ids
ARGV[1]  "1" when the jobs failed for good, "0" when they succeeded
ARGV[2]  now (Unix seconds)
ARGV[3..] the jobs' ids (payload uuids): one job, or every job a worker acknowledges
          in one batch of acks

Only ids not counted before are counted (SADD tells how many are new), so a job run
again after its worker died is never counted twice. Returns nil when nothing was
counted (the batch is gone or finished, or every id was counted before); otherwise
{pending, failed, first_failure (0/1), finished (0/1)} after the update. Exactly one
call sees finished = 1 and exactly one sees first_failure = 1.
]]

local pending = tonumber(redis.call('HGET', KEYS[1], 'pending'))
if not pending or pending <= 0 then
  return nil
end
local new = redis.call('SADD', KEYS[2], unpack(ARGV, 3))
if new == 0 then
  return nil
end
pending = redis.call('HINCRBY', KEYS[1], 'pending', -new)
local failed = tonumber(redis.call('HGET', KEYS[1], 'failed') or '0')
local first = 0
if ARGV[1] == '1' then
  if failed == 0 then
    first = 1
    if redis.call('HGET', KEYS[1], 'allow_failures') ~= '1' and redis.call('HEXISTS', KEYS[1], 'cancelled_at') == 0 then
      redis.call('HSET', KEYS[1], 'cancelled_at', ARGV[2])
    end
  end
  failed = redis.call('HINCRBY', KEYS[1], 'failed', new)
end
local finished = 0
if pending == 0 then
  finished = 1
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[2])
  redis.call('DEL', KEYS[2])
end
return {pending, failed, first, finished}
