-- A read that checks the entry's tag versions in the same round trip (one redis server).
-- KEYS[1]: the entry
-- ARGV[1]: the name prefix of tag version keys ("<escaped prefix>:<version>#t:v:")
-- Returns the stored value (the value inside an envelope whose tag versions all still
-- match), or false for a miss. Envelope: "\0T<count>:" then "<len>:<tag><16-char token>"
-- per tag, then the value.
local raw = redis.call('GET', KEYS[1])
if not raw or string.sub(raw, 1, 2) ~= '\0T' then
  return raw
end
local colon = string.find(raw, ':', 3, true)
if not colon then return false end
local count = tonumber(string.sub(raw, 3, colon - 1))
local pos = colon + 1
for _ = 1, (count or 0) do
  colon = string.find(raw, ':', pos, true)
  if not colon then return false end
  local size = tonumber(string.sub(raw, pos, colon - 1))
  if not size then return false end
  local tag = string.sub(raw, colon + 1, colon + size)
  local token = string.sub(raw, colon + size + 1, colon + size + 16)
  if redis.call('GET', ARGV[1] .. tag) ~= token then
    return false
  end
  pos = colon + size + 17
end
return string.sub(raw, pos)
