-- Delete one message, honouring its claim.
-- ARGV: now, message id, "1" if a claim id is given else "0", claim id.
-- Returns 0 done (or nothing to do), 1 MessageIsClaimed, 2 MessageNotClaimed, 3 ClaimNotValid.
local id, with_claim, cid = ARGV[2], ARGV[3] == '1', ARGV[4]
local raw = redis.call('HGET', K_MSGS, id)
if not raw then
  return 0
end
local r = cmsgpack.unpack(raw)
if expired(r) then
  drop({id})
  return 0
end
if held(r) then
  if not with_claim then
    return 1
  end
  if cid ~= r[CID] then
    local expires = redis.call('ZSCORE', K_CEXP, cid)
    if expires and tonumber(expires) > NOW then
      return 1
    end
    return 3
  end
elseif with_claim then
  return 2
end
drop({id})
return 0
