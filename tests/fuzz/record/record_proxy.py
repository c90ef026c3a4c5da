#!/usr/bin/env python3
"""Recording loopback proxy for fuzz seed corpora (tests/fuzz/record, test tooling only).

Real clients (ffmpeg, GStreamer, Moonlight Embedded, gamestream_probe, funkhausctl) connect to
LISTEN (e.g. 127.0.0.2) on the host's own port numbers; the proxy forwards every byte to TARGET
(e.g. 127.0.0.1) unchanged and writes what each side sent into CAPTURE_DIR:

  tcp-PORT-N.c2s / .s2c    the bytes of TCP connection N on PORT, client -> host / host -> client
                           (host -> client capped at --s2c-cap bytes: it may carry the video)
  tls-PORT-N.c2s / .s2c    the same for a TLS port, decrypted: the proxy ends the client's TLS with
                           a throwaway certificate and opens its own to the host with the client's
                           certificate and key (--client-cert/--client-key, e.g. the key directory
                           Moonlight Embedded made when it paired); GameStream clients do not check
                           the host's certificate on these requests, mutual TLS is kept upstream
  udp-PORT.jsonl           one line per datagram {"t", "dir" ("c2s"/"s2c"), "client", "hex"}
                           (host -> client: only the first --udp-s2c-cap datagrams per port)
  unix-NAME-N.c2s / .s2c   a unix stream socket (--unix LISTEN_PATH=TARGET_PATH), e.g. funkhausd's
                           control socket for funkhausctl

Runs until SIGTERM/SIGINT. Loopback only: LISTEN and TARGET must be 127.x addresses.
Usage: record_proxy.py --listen 127.0.0.2 --target 127.0.0.1 --capture DIR
         [--tcp PORT]... [--tls PORT]... [--udp PORT]... [--unix LISTEN=TARGET]...
         [--rtsp-challenge PORT] [--client-cert PEM --client-key PEM] [--ready FILE]
"""
import argparse
import asyncio
import ipaddress
import itertools
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

counter = itertools.count()


class Recorder:
    def __init__(self, path, cap=None):
        self.f = open(path, "wb")
        self.left = cap

    def write(self, data):
        if self.left is not None:
            data = data[: self.left]
            self.left -= len(data)
        if data:
            self.f.write(data)
            self.f.flush()

    def close(self):
        self.f.close()


async def pipe(reader, writer, recorder):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            recorder.write(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        recorder.close()
        try:
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (OSError, RuntimeError):
            pass


async def relay(client_reader, client_writer, open_upstream, stem, s2c_cap):
    try:
        up_reader, up_writer = await open_upstream()
    except (OSError, ssl.SSLError) as e:
        print(f"record_proxy: {stem}: upstream failed: {e}", file=sys.stderr)
        client_writer.close()
        return
    c2s = Recorder(stem + ".c2s")
    s2c = Recorder(stem + ".s2c", s2c_cap)
    await asyncio.gather(pipe(client_reader, up_writer, c2s), pipe(up_reader, client_writer, s2c))
    for w in (client_writer, up_writer):
        try:
            w.close()
        except OSError:
            pass


async def rtsp_challenge(reader, writer, stem):
    """Answers each request with 401 and a fresh nonce until one carries Authorization (then 404)."""
    rec = Recorder(stem + ".c2s")
    buffered = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            rec.write(data)
            buffered += data
            while b"\r\n\r\n" in buffered:
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                cseq = b"0"
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"cseq":
                        cseq = value.strip()
                if b"\nauthorization:" in head.lower():
                    reply = b"RTSP/1.0 404 Not Found\r\nCSeq: " + cseq + b"\r\n\r\n"
                else:
                    nonce = os.urandom(16).hex().encode()
                    reply = (b"RTSP/1.0 401 Unauthorized\r\nCSeq: " + cseq +
                             b'\r\nWWW-Authenticate: Digest realm="funkhaus", nonce="' + nonce + b'"\r\n\r\n')
                writer.write(reply)
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        rec.close()
        writer.close()


def throwaway_server_context(workdir):
    cert, key = os.path.join(workdir, "proxy-cert.pem"), os.path.join(workdir, "proxy-key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=record_proxy", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_NONE  # the host checks the client's certificate upstream
    return ctx


def upstream_tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # as the GameStream clients themselves on these requests
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


class UdpRelay:
    """One listening UDP port; one upstream socket per client address."""

    def __init__(self, loop, port, target, log, s2c_cap):
        self.loop, self.port, self.target, self.log = loop, port, target, log
        self.s2c_left = s2c_cap
        self.upstreams = {}
        self.transport = None

    def record(self, direction, client, data):
        if direction == "s2c":
            if self.s2c_left <= 0:
                return
            self.s2c_left -= 1
        self.log.write(json.dumps({"t": time.time(), "dir": direction, "client": f"{client[0]}:{client[1]}",
                                   "hex": data.hex()}) + "\n")
        self.log.flush()

    # asyncio.DatagramProtocol of the listening socket
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, client):
        self.record("c2s", client, data)
        up = self.upstreams.get(client)
        if up is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect((self.target, self.port))
            self.upstreams[client] = sock
            self.loop.add_reader(sock.fileno(), self.from_host, sock, client)
            up = sock
        try:
            up.send(data)
        except OSError:
            pass

    def from_host(self, sock, client):
        try:
            data = sock.recv(65536)
        except OSError:
            return
        self.record("s2c", client, data)
        self.transport.sendto(data, client)

    def error_received(self, exc):
        pass

    def connection_lost(self, exc):
        pass


def loopback(address):
    if not ipaddress.ip_address(address).is_loopback:
        sys.exit(f"record_proxy: {address} is not a loopback address")
    return address


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--capture", required=True)
    p.add_argument("--tcp", type=int, action="append", default=[])
    p.add_argument("--tls", type=int, action="append", default=[])
    p.add_argument("--udp", type=int, action="append", default=[])
    p.add_argument("--unix", action="append", default=[])
    p.add_argument("--rtsp-challenge", type=int, action="append", default=[])
    p.add_argument("--client-cert")
    p.add_argument("--client-key")
    p.add_argument("--s2c-cap", type=int, default=4 << 20)
    p.add_argument("--udp-s2c-cap", type=int, default=200)
    p.add_argument("--ready", help="file created once every port listens")
    a = p.parse_args()
    listen, target = loopback(a.listen), loopback(a.target)
    os.makedirs(a.capture, exist_ok=True)
    loop = asyncio.get_running_loop()
    servers = []

    for port in a.tcp:
        async def on_tcp(r, w, port=port):
            stem = os.path.join(a.capture, f"tcp-{port}-{next(counter)}")
            await relay(r, w, lambda: asyncio.open_connection(target, port), stem, a.s2c_cap)
        servers.append(await asyncio.start_server(on_tcp, listen, port, reuse_address=True))

    for port in a.rtsp_challenge:
        async def on_challenge(r, w, port=port):
            await rtsp_challenge(r, w, os.path.join(a.capture, f"challenge-{port}-{next(counter)}"))
        servers.append(await asyncio.start_server(on_challenge, listen, port, reuse_address=True))

    if a.tls:
        server_ctx = throwaway_server_context(tempfile.mkdtemp(prefix="record-proxy-"))
    for port in a.tls:
        async def on_tls(r, w, port=port):
            stem = os.path.join(a.capture, f"tls-{port}-{next(counter)}")
            # The client's certificate may change between runs (pairing makes it): read it now.
            ctx = upstream_tls_context(a.client_cert if a.client_cert and os.path.exists(a.client_cert) else None,
                                       a.client_key)
            await relay(r, w, lambda: asyncio.open_connection(target, port, ssl=ctx), stem, a.s2c_cap)
        servers.append(await asyncio.start_server(on_tls, listen, port, ssl=server_ctx, reuse_address=True))

    for port in a.udp:
        log = open(os.path.join(a.capture, f"udp-{port}.jsonl"), "a")
        await loop.create_datagram_endpoint(lambda port=port, log=log: UdpRelay(loop, port, target, log, a.udp_s2c_cap),
                                            local_addr=(listen, port))

    for spec in a.unix:
        path, upstream = spec.split("=", 1)
        name = os.path.basename(path).replace(".", "_")
        if os.path.exists(path):
            os.unlink(path)

        async def on_unix(r, w, upstream=upstream, name=name):
            stem = os.path.join(a.capture, f"unix-{name}-{next(counter)}")
            await relay(r, w, lambda: asyncio.open_unix_connection(upstream), stem, a.s2c_cap)
        servers.append(await asyncio.start_unix_server(on_unix, path))

    if a.ready:
        open(a.ready, "w").close()
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
