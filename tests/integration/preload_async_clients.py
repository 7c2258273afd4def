#!/usr/bin/env python3
"""20 asyncio (epoll, non-blocking connect) clients, 100 kB each, against an echo server:
preload_async_clients.py HOST PORT. Exit 0 when every byte came back."""
import asyncio, sys
async def one(i):
    r, w = await asyncio.open_connection(sys.argv[1], int(sys.argv[2]))
    data = bytes([i]) * 100000
    w.write(data); await w.drain(); w.write_eof()
    got = await r.read()
    w.close()
    return got == data
async def main():
    res = await asyncio.gather(*[one(i) for i in range(20)])
    print("asyncio clients ok:", sum(res), "of", len(res))
    sys.exit(0 if all(res) else 1)
asyncio.run(main())
