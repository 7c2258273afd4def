#!/usr/bin/env python3
"""An asyncio (epoll) echo server: preload_async_echo.py ADDR PORT. Prints "listening"."""
import asyncio, sys
async def handle(r, w):
    while True:
        d = await r.read(65536)
        if not d:
            break
        w.write(d)
        await w.drain()
    w.close()
    await w.wait_closed()
async def main():
    srv = await asyncio.start_server(handle, sys.argv[1], int(sys.argv[2]))
    print("listening", flush=True)
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
