-- wrk: every error class and every non-2xx answer, printed at the end.
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests %d  errors: connect %d read %d write %d timeout %d status(non-2xx/3xx) %d\n",
    summary.requests, e.connect, e.read, e.write, e.timeout, e.status))
  io.write(string.format("latency p50 %.2f ms  p99 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
