-- A live subscription.  ARGV: now, id.  Returns its fields (see render), or {} if unknown.
local id = ARGV[2]
local r = live(id)
if not r then
  return {}
end
return render({}, id, r)
