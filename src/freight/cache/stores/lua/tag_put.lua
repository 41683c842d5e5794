-- A tagged write in one round trip (one redis server): read (or create) each tag's version,
-- write the envelope, add the key to each tag's member set and raise (never lower) the
-- TTLs of the tag's metadata to cover the new member.
-- KEYS[1]: the entry; then for each tag: its version key, then its member sorted set
-- ARGV[1]: the value; ARGV[2]: TTL in ms (0: forever); ARGV[3]: now in ms; ARGV[4]: "1"
-- for add (only if absent); ARGV[5]: a fresh token; ARGV[6...]: the tags (as in KEYS)
-- Returns 1 when written, 0 when add found an entry.
local px = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local parts = {}
local ntags = (#KEYS - 1) / 2
for i = 1, ntags do
  local vkey = KEYS[2 * i]
  local tok = redis.call('GET', vkey)
  if not tok then
    tok = ARGV[5]
    if px > 0 then redis.call('SET', vkey, tok, 'PX', px) else redis.call('SET', vkey, tok) end
  end
  local tag = ARGV[5 + i]
  parts[#parts + 1] = #tag .. ':' .. tag .. tok
end
local data = '\0T' .. ntags .. ':' .. table.concat(parts) .. ARGV[1]
local args = {'SET', KEYS[1], data}
if px > 0 then args[#args + 1] = 'PX'; args[#args + 1] = px end
if ARGV[4] == '1' then args[#args + 1] = 'NX' end
if not redis.call(unpack(args)) then
  return 0
end
local score = '+inf'
if px > 0 then score = now + px end
for i = 1, ntags do
  local vkey, zkey = KEYS[2 * i], KEYS[2 * i + 1]
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now)
  local fresh = redis.call('EXISTS', zkey) == 0
  redis.call('ZADD', zkey, score, KEYS[1])
  if fresh and px > 0 then redis.call('PEXPIRE', zkey, px) end
  for _, key in ipairs({vkey, zkey}) do
    local ttl = redis.call('PTTL', key)
    if px == 0 then
      if ttl >= 0 then redis.call('PERSIST', key) end
    elseif ttl >= 0 and ttl < px then
      redis.call('PEXPIRE', key, px)
    end
  end
end
return 1
