-- Give a cache lock a new lifetime only when the caller owns it (compare-and-expire).
--
-- KEYS[1]  the lock key ("<prefix>#lock:<name>")
-- ARGV[1]  the caller's owner token
-- ARGV[2]  the new lifetime in milliseconds; 0 keeps the lock until it is released
--
-- Returns 1 when the lock is held by ARGV[1] (and now has the new lifetime), else 0.
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
    return 0
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
    redis.call("PEXPIRE", KEYS[1], ttl)
else
    redis.call("PERSIST", KEYS[1])
end
return 1
