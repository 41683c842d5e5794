-- Invalidate one tag: a fresh version token, and its member set moved aside for deletion.
-- KEYS[1]: the tag's version key; KEYS[2]: its member sorted set; KEYS[3]: where the
-- members are moved (deleted in batches by tag_members.lua)
-- ARGV[1]: the fresh token; ARGV[2]: TTL in ms of a version whose members are unknown
local ttl = redis.call('PTTL', KEYS[2])
if ttl == -1 then
  redis.call('SET', KEYS[1], ARGV[1])
elseif ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if ttl ~= -2 then
  redis.call('RENAME', KEYS[2], KEYS[3])
  return 1
end
return 0
