--[[
batch_record.lua: count one finished job of a batch, atomically.

Key schema (both keys of a batch share the hash tag {<batch id>}, so a batch lives in
one Redis Cluster slot):
  <prefix>:batch:{<id>}        HASH  name, total, pending, failed, options (JSON),
                                     allow_failures ("1"/"0"), created_at,
                                     cancelled_at, finished_at
  <prefix>:batch:{<id>}:done   SET   ids of the jobs already counted

KEYS[1]  the batch hash
KEYS[2]  the set of counted job ids
ARGV[1]  the job's id (payload uuid)
ARGV[2]  "1" when the job failed for good, "0" when it succeeded
ARGV[3]  now (Unix seconds)

Returns nil when the batch is gone, already finished, or already counted this job (a job
run again after its worker died is never counted twice); otherwise
{pending, failed, first_failure (0/1), finished (0/1)} after the update. Exactly one
call sees finished = 1 and exactly one sees first_failure = 1.
]]

local pending = tonumber(redis.call('HGET', KEYS[1], 'pending'))
if not pending or pending <= 0 then
  return nil
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return nil
end
pending = redis.call('HINCRBY', KEYS[1], 'pending', -1)
local failed = tonumber(redis.call('HGET', KEYS[1], 'failed') or '0')
local first = 0
if ARGV[2] == '1' then
  failed = redis.call('HINCRBY', KEYS[1], 'failed', 1)
  if failed == 1 then
    first = 1
    if redis.call('HGET', KEYS[1], 'allow_failures') ~= '1' and redis.call('HEXISTS', KEYS[1], 'cancelled_at') == 0 then
      redis.call('HSET', KEYS[1], 'cancelled_at', ARGV[3])
    end
  end
end
local finished = 0
if pending == 0 then
  finished = 1
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[3])
  redis.call('DEL', KEYS[2])
end
return {pending, failed, first, finished}
