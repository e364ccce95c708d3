# Junk flood for README "Failure behaviour": 400 000 malformed datagrams to a loopback gateway
# from 4 000 source ports. usage: python3 junk.py PORT [COUNT]
import os, random, socket, sys
target = ("127.0.0.1", int(sys.argv[1])); n = int(sys.argv[2]) if len(sys.argv) > 2 else 400000
rnd = random.Random(7)
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4000)]
kinds = [
    lambda: os.urandom(rnd.randint(0, 64)),                                  # random bytes
    lambda: bytes([0x40 | rnd.randint(0, 8), 0x02, rnd.randint(0,255), rnd.randint(0,255)]) + b"\xff",  # CON POST, marker, no payload
    lambda: bytes([0x48, 0x02, rnd.randint(0,255), rnd.randint(0,255)]) + os.urandom(8) + b"\xbd\xff",  # bad option nibble
    lambda: bytes([0x40, 0x02, rnd.randint(0,255), rnd.randint(0,255), 0xb7]) + b"msgin5g" + b"\xff{not json",  # bad JSON
]
for i in range(n):
    try:
        socks[i % len(socks)].sendto(kinds[i % 4](), target)
    except OSError:
        pass
