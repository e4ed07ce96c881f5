#!/usr/bin/python3
# python3-websockets (Debian's) on the Engine.IO websocket transport of the
# NestJS example, with the token as a subprotocol entry:
# websockets.connect(url, subprotocols=["bearer", jwt]). Prints TAP lines
# for t/interop.t. argv: port, good token, bad token.
import asyncio
import json
import sys

import websockets


def ok(cond, name, diag=None):
    print("%s - %s" % ("ok" if cond else "not ok", name))
    if not cond and diag is not None:
        print("# %r" % (diag,))


async def main(port, good, bad):
    url = "ws://127.0.0.1:%s/socket.io/?EIO=4&transport=websocket" % port
    welcome = None
    async with websockets.connect(url, subprotocols=["bearer", good], open_timeout=10) as ws:
        ok(ws.subprotocol == "bearer", "websockets: the 101 echoes the bearer subprotocol", ws.subprotocol)
        for _ in range(10):
            m = await asyncio.wait_for(ws.recv(), 10)
            if m.startswith("0"):
                await ws.send("40")
            elif m.startswith('42["welcome"'):
                welcome = json.loads(m[2:])[1]
                break
    ok(welcome is not None and welcome.get("sub") == "proto-user",
       "websockets: subprotocol token admitted, the backend saw sub proto-user", welcome)
    status = None
    try:
        async with websockets.connect(url, subprotocols=["bearer", bad], open_timeout=10):
            pass
    except websockets.exceptions.InvalidStatusCode as e:
        status = e.status_code
    ok(status == 401, "websockets: a tampered subprotocol token gets 401", status)


asyncio.run(main(*sys.argv[1:4]))
