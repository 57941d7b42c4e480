"""Memory per idle keep-alive connection of a proxy: open N TLS connections to 127.0.0.1:PORT,
send one GET of the bench's 8 KiB file on each, keep them all open and idle, and print the summed
VmRSS of PIDS (the proxy's processes: nginx's master and workers, or the gateway) before and
after. Standard library only. A measurement, not a test.

Usage: python3 bench/idle-connections.py PORT N PID [PID...]
(against ../shared/bench/run.sh's run dir: the gateway on its candidate.toml, nginx on nginx-w2.conf)
"""
import asyncio, ssl, sys
port, n, pids = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
def rss():
    t = 0
    for p in pids:
        for l in open(f'/proc/{p}/status'):
            if l.startswith('VmRSS:'): t += int(l.split()[1])
    return t / 1024
REQ = b"GET /service-cloud/webclient/chat_client/js/thirdPartyClient.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
async def one(ctx, sem):
    async with sem:
        r, w = await asyncio.open_connection('127.0.0.1', port, ssl=ctx)
        w.write(REQ); await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        cl = int([l.split(b':')[1] for l in head.split(b'\r\n') if l.lower().startswith(b'content-length')][0])
        await r.readexactly(cl)
        return (r, w)
async def main():
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    before = rss()
    sem = asyncio.Semaphore(64)
    conns = await asyncio.gather(*[one(ctx, sem) for _ in range(n)])
    await asyncio.sleep(3)
    after = rss()
    print(f"idle RSS {before:.1f} MiB; with {n} idle connections {after:.1f} MiB ({(after-before)*1024/n:.1f} KiB each)")
    for r, w in conns: w.close()
asyncio.run(main())
