-- POSTs a Token-mode validation body (the CEC's call) with the token from $TOKEN.
-- Counts the answers by retCode so the rate-limit run can show how many were refused.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"Token":"%s","userName":"Tom","userId":"10010001","tenantSpaceId":"202007159031"}', os.getenv("TOKEN"))

local counts = {}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  ok, failed, limited, other = 0, 0, 0, 0
end
function response(status, headers, body)
  if status == 200 and body:find('"retCode":0', 1, true) then ok = ok + 1
  elseif status == 200 and body:find('"retCode":1', 1, true) then failed = failed + 1
  elseif status == 429 then limited = limited + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, f, l, x = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); f = f + t:get("failed"); l = l + t:get("limited"); x = x + t:get("other")
  end
  io.write(string.format("answers: %d valid, %d refused (retCode 1), %d rate-limited (429), %d other\n", o, f, l, x))
end
