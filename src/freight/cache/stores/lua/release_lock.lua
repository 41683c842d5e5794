-- Release a cache lock only when the caller owns it (compare-and-delete).
--
-- KEYS[1]  the lock key ("<prefix>#lock:<name>")
-- ARGV[1]  the caller's owner token
--
-- Returns 1 when the lock was held by ARGV[1] and is now deleted, else 0.
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
