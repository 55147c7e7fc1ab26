-- Redis TIME is the only clock: every controller and every script agrees on it.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Lua turns numbers into strings with 14 significant digits; queue scores need all of theirs.
local function fmt(n)
  return string.format('%.0f', n)
end
