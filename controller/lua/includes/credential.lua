-- Whether the agent's live credential (controller/src/credential-store.ts: JSON {hash, issuedAt}) is
-- the one whose secret hashes to `hash`. A claim asks this inside its script, so a revoked agent is
-- refused atomically on every controller, whatever a controller's in-process cache still believes.
local function credentialLive(credKey, hash)
  local stored = redis.call('GET', credKey)
  return stored ~= false and string.find(stored, '"hash":"' .. hash .. '"', 1, true) ~= nil
end
