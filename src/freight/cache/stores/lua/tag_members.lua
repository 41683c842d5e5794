-- Delete up to ARGV[1] members of a flushed tag's member set, and drop them from it.
-- KEYS[1]: the member set moved aside by tag_flush.lua
-- ARGV[1]: the batch size
-- Returns how many members were taken (0 once the set is empty; it is then gone).
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #members == 0 then
  return 0
end
redis.call('UNLINK', unpack(members))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #members - 1)
return #members
