#!/usr/bin/env python3
"""Cuts record.sh's captures into per-target fuzz seed files (tests/fuzz/corpus/NAME/).

Each seed is an input in its target's own format (see each fuzz target's header comment); where a
target frames its input (a mode byte, records, a struct layout), the recorded bytes are put into
that frame and nothing else is changed, except where MANIFEST.md says so (the ping payload).
Files are named SOURCE-WHAT-SHA8 and deduplicated by content; a target's folder is rewritten only
for the sources this run recorded (files from other sources are kept), and at most --max seeds a
target are written. Usage: make_corpus.py --capture DIR --corpus DIR [--bin DIR] [--repo DIR]
"""
import argparse
import collections
import glob
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import urllib.parse

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FUZZ_KEY = bytes(range(1, 17))  # gs_control_message_fuzz.cpp's kKey
PING_PAYLOAD = b"0123456789ABCDEF"  # gs_ping_fuzz.cpp's kPayload


class Corpus:
    def __init__(self, root, limit):
        self.root, self.limit = root, limit
        self.seeds = collections.OrderedDict()  # target -> {sha: (name, bytes)}

    def add(self, target, source, what, data, always=False):
        """Keeps `data` unless it is a duplicate or the target has its --max recorded seeds
        (`always`: the target's own fuzzSeeds(), kept in any case)."""
        if not data:
            return
        digest = hashlib.sha1(data).hexdigest()
        seeds = self.seeds.setdefault(target, collections.OrderedDict())
        if digest in seeds or (len(seeds) >= self.limit and not always):
            return
        what = re.sub(r"[^A-Za-z0-9_.-]+", "_", what)[:40].strip("_") or "seed"
        seeds[digest] = (f"{source}-{what}-{digest[:8]}", data)

    def write(self):
        for target, seeds in self.seeds.items():
            d = os.path.join(self.root, target)
            os.makedirs(d, exist_ok=True)
            # A source recorded again replaces its old seeds; other sources' files stay.
            sources = {name.split("-")[0] for name, _ in seeds.values()}
            for p in glob.glob(os.path.join(d, "*")):
                if os.path.basename(p).split("-")[0] in sources:
                    os.unlink(p)
            kept = {hashlib.sha1(read(p)).hexdigest() for p in glob.glob(os.path.join(d, "*"))}
            for digest, (name, data) in seeds.items():
                if digest not in kept:
                    with open(os.path.join(d, name), "wb") as f:
                        f.write(data)
            print(f"{target}: {len(seeds)} seeds from {', '.join(sorted(sources))}", file=sys.stderr)


# ---------------------------------------------------------------- RTSP / HTTP byte streams

def split_rtsp(stream):
    """Yields ('request'|'response', bytes) and ('interleaved', channel, payload) units."""
    at = 0
    while at < len(stream):
        while at < len(stream) and stream[at] in b"\r\n":
            at += 1
        if at >= len(stream):
            return
        if stream[at] == 0x24:  # '$'
            if len(stream) - at < 4:
                return
            channel, length = stream[at + 1], struct.unpack(">H", stream[at + 2:at + 4])[0]
            if len(stream) - at - 4 < length:
                return
            yield ("interleaved", channel, stream[at + 4:at + 4 + length])
            at += 4 + length
            continue
        end = stream.find(b"\r\n\r\n", at)
        sep = 4
        if end < 0:
            end, sep = stream.find(b"\n\n", at), 2
        if end < 0:
            return
        head = stream[at:end]
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        body = int(m.group(1)) if m else 0
        unit = stream[at:end + sep + body]
        kind = "response" if head.startswith(b"RTSP/") or head.startswith(b"HTTP/") else "request"
        yield (kind, unit)
        at = end + sep + body


def first_line(unit):
    return unit.split(b"\r\n", 1)[0].decode("latin-1")


def header(unit, name):
    m = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":[ \t]*(.*?)\r?$", unit.split(b"\r\n\r\n")[0])
    return m.group(1) if m else None


def read(path):
    with open(path, "rb") as f:
        return f.read()


def datagrams(path, direction="c2s"):
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path):
        d = json.loads(line)
        if d["dir"] == direction:
            out.append(bytes.fromhex(d["hex"]))
    return out


# ---------------------------------------------------------------- ENet and the control stream

ENET_SIZES = [0, 8, 48, 44, 8, 4, 6, 8, 24, 8, 12, 16, 24]


def enet_commands(datagram):
    """(command byte, channel, payload, fragment info) of each well-formed command."""
    if len(datagram) < 2:
        return []
    word = struct.unpack(">H", datagram[:2])[0]
    at = 4 if word & 0x8000 else 2
    if word & 0x4000:
        return []
    out = []
    while len(datagram) - at >= 4:
        cmd, channel = datagram[at], datagram[at + 1]
        number = cmd & 0x0F
        size = ENET_SIZES[number] if number < len(ENET_SIZES) else 0
        if size == 0 or len(datagram) - at < size:
            break
        p = datagram[at:at + size]
        length, frag = 0, None
        if number == 6:
            length = struct.unpack(">H", p[4:6])[0]
        elif number in (7, 9):
            length = struct.unpack(">H", p[6:8])[0]
        elif number in (8, 12):
            length = struct.unpack(">H", p[6:8])[0]
            start_seq = struct.unpack(">H", p[4:6])[0]
            count, num, total, offset = struct.unpack(">IIII", p[8:24])
            frag = (channel, start_seq, count, num, total, offset)
        if len(datagram) - at - size < length:
            break
        out.append((cmd, channel, datagram[at + size:at + size + length], frag))
        at += size + length
    return out


def enet_packets(datagrams):
    """The application packets in client datagrams, fragments reassembled, in order."""
    packets, partial = [], {}
    for d in datagrams:
        for cmd, channel, payload, frag in enet_commands(d):
            number = cmd & 0x0F
            if number in (6, 7, 9):
                packets.append(payload)
            elif frag:
                ch, start, count, num, total, offset = frag
                buf = partial.setdefault((ch, start), {"total": total, "parts": {}})
                buf["parts"][offset] = payload
                if sum(len(x) for x in buf["parts"].values()) >= total:
                    packets.append(b"".join(buf["parts"][k] for k in sorted(buf["parts"]))[:total])
                    del partial[(ch, start)]
    return packets


def control_iv(seq, legacy):
    if legacy:
        return bytes([seq & 0xFF]) + bytes(15)
    return struct.pack("<I", seq) + bytes(6) + b"CC"


def open_control(key, packet):
    """(type, payload, seq, legacy) of a client control message; plain ones have seq None."""
    if len(packet) >= 4 and struct.unpack("<H", packet[:2])[0] == 0x0001 and key:
        length, seq = struct.unpack("<HI", packet[2:8])
        tag, sealed = packet[8:24], packet[24:4 + length]
        for legacy in (False, True):
            try:
                plain = AESGCM(key).decrypt(control_iv(seq, legacy), sealed + tag, None)
            except Exception:
                continue
            t, n = struct.unpack("<HH", plain[:4])
            return t, plain[4:4 + n], seq, legacy
        return None
    if len(packet) >= 4:
        t, n = struct.unpack("<HH", packet[:4])
        return t, packet[4:4 + n], None, False
    return None


def seal_control(key, seq, t, payload, legacy):
    plain = struct.pack("<HH", t, len(payload)) + payload
    sealed = AESGCM(key).encrypt(control_iv(seq, legacy), plain, None)
    ct, tag = sealed[:-16], sealed[-16:]
    return struct.pack("<HHI", 0x0001, 4 + 16 + len(ct), seq) + tag + ct


def enet_records(datagrams, service_every=8):
    """gs_enet_fuzz.cpp's input: [u8 flags][LE16 length][bytes] for each datagram; every
    service_every-th record also lets 300 ms pass (flag 2), as a real session's pauses do."""
    out = b""
    for i, d in enumerate(datagrams):
        flags = 2 if service_every and i % service_every == service_every - 1 else 0
        out += bytes([flags]) + struct.pack("<H", len(d)) + d
    return out


# ---------------------------------------------------------------- H.264 Annex B

def nal_starts(data):
    i, out = 0, []
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0:
            return out
        start = i - 1 if i > 0 and data[i - 1] == 0 else i
        out.append((start, i + 3))
        i += 3


def access_units(data, hevc=False):
    """Access units: a new one at an AUD or parameter set, or at a slice that starts a picture
    (H.264: first_mb_in_slice 0; HEVC: first_slice_segment_in_pic_flag), after a slice."""
    starts = nal_starts(data)
    aus, begin, seen_slice = [], None, False
    for k, (start, payload) in enumerate(starts):
        if payload + 2 >= len(data):
            break
        if hevc:
            t = (data[payload] >> 1) & 0x3F
            slice_ = t <= 21
            first = slice_ and data[payload + 2] & 0x80
            starts_au = t in (32, 33, 34, 35) or first
        else:
            t = data[payload] & 0x1F
            slice_ = t in (1, 5)
            first = slice_ and data[payload + 1] & 0x80
            starts_au = t in (7, 9) or first
        if begin is None:
            begin = start
        elif starts_au and seen_slice:
            aus.append(data[begin:start])
            begin, seen_slice = start, False
        if slice_:
            seen_slice = True
    if begin is not None:
        aus.append(data[begin:])
    return aus


# ---------------------------------------------------------------- strace sendmsg

SENDMSG = re.compile(r'sendmsg\(\d+, \{msg_name=.*?msg_iov=\[(.*?)\], msg_iovlen=\d+(.*?)\}, .*?\) = (\d+)')
IOV = re.compile(r'iov_base="((?:\\x[0-9a-f]{2})*)"')
FDS = re.compile(r"cmsg_type=SCM_RIGHTS, cmsg_data=\[([0-9, ]*)\]")


def strace_messages(path):
    if not os.path.exists(path):
        return
    for line in open(path, errors="replace"):
        m = SENDMSG.search(line)
        if not m:
            continue
        data = b"".join(bytes.fromhex(x.replace("\\x", "")) for x in IOV.findall(m.group(1)))
        if int(m.group(3)) != len(data):
            continue  # strace cut it (-s) or the send failed
        f = FDS.search(m.group(2))
        fds = len([x for x in f.group(1).split(",") if x.strip()]) if f else 0
        yield data, fds


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--capture", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--bin")
    ap.add_argument("--repo", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "../../..")))
    ap.add_argument("--max", type=int, default=40)
    a = ap.parse_args()
    cap = a.capture
    ports = json.load(open(os.path.join(cap, "ports.json")))
    rtsp, rtp, base = ports["rtsp"], ports["rtp"], ports["base"]
    c = Corpus(a.corpus, a.max)

    # ---- RTSP viewers: ffmpeg and GStreamer
    for session in sorted(glob.glob(os.path.join(cap, "ffmpeg-*")) + glob.glob(os.path.join(cap, "gstreamer-*"))):
        src = os.path.basename(session)  # e.g. ffmpeg-tcp
        client, variant = src.split("-", 1)
        for path in sorted(glob.glob(os.path.join(session, f"tcp-{rtsp}-*.c2s")) +
                           glob.glob(os.path.join(session, "challenge-*.c2s"))):
            stream = read(path)
            units = list(split_rtsp(stream))
            rtcp_seen = 0
            for u in units:
                if u[0] == "request":
                    c.add("rtsp_request", client, f"{variant}-{first_line(u[1]).split(' ')[0]}", u[1])
                    auth = header(u[1], "Authorization")
                    if auth:
                        c.add("digest_authorization", client, variant, auth)
                elif u[0] == "interleaved" and u[1] % 2 == 1 and rtcp_seen < 3:
                    rtcp_seen += 1
                    c.add("rtcp", client, f"{variant}-rr", u[2])
            # The whole session as one input: requests and interleaved RTCP in the order sent.
            c.add("rtsp_request", client, f"{variant}-session", stream[:16384])
        for path in sorted(glob.glob(os.path.join(session, f"tcp-{rtsp}-*.s2c"))):
            stream = read(path)
            rtp_packets, sr = [], 0
            for u in split_rtsp(stream):
                if u[0] == "response":
                    c.add("rtsp_response", "funkhaus_net", f"{client}-{variant}", u[1])
                elif u[0] == "interleaved" and u[1] % 2 == 0:
                    rtp_packets.append(u[2])
                elif u[0] == "interleaved" and sr < 2:
                    sr += 1
                    c.add("rtcp", "funkhaus_net", "sr", u[2])
                    c.add("bench_viewer", "funkhaus_net", "sr", b"\x01" + u[2])
            for i, p in enumerate(rtp_packets[:200]):
                kind = p[12] & 0x1F if len(p) > 12 else 0
                if i < 1 or kind in (24, 28) and i < 6:
                    c.add("bench_viewer", "funkhaus_net", f"rtp-nal{kind}", b"\x00" + p)
            # Runs of RTP datagrams for the depacketizer: the stream's start, then a later run.
            for start, what in ((0, "start"), (len(rtp_packets) // 2, "middle")):
                seq, size = b"", 0
                for p in rtp_packets[start:]:
                    if size + len(p) > 8192:
                        break
                    seq += struct.pack(">H", len(p)) + p
                    size += len(p) + 2
                c.add("bench_depacketizer", "funkhaus_net", f"{client}-{what}", seq)
        for dgram in datagrams(os.path.join(session, f"udp-{rtp + 1}.jsonl"))[:3]:
            c.add("rtcp", client, f"{variant}-udp", dgram)
        for ext, codec in (("h264", 0), ("hevc", 1)):
            stream_file = os.path.join(session, "stream." + ext)
            if not os.path.exists(stream_file):
                continue
            aus = access_units(read(stream_file), hevc=codec == 1)
            picks = aus[:3] + ([aus[len(aus) // 2]] if len(aus) > 4 else [])
            for i, au in enumerate(picks):
                if len(au) < 65536:
                    c.add("annexb", client, f"{variant}-au{i}", bytes([codec]) + au)
        h264 = os.path.join(session, "stream.h264")
        if os.path.exists(h264):
            barcode_seeds(c, h264, client, variant, ports.get("width", 320), ports.get("height", 180))

    # ---- GameStream clients: Moonlight Embedded and gamestream_probe
    pairing_targets = []
    for session in sorted(glob.glob(os.path.join(cap, "moonlight-*")) + glob.glob(os.path.join(cap, "probe-*"))):
        src = os.path.basename(session)
        client = src.split("-")[0]
        variant = src.split("-", 1)[1]
        rikey = None
        for path in sorted(glob.glob(os.path.join(session, f"tcp-{base}-*.c2s")) +
                           glob.glob(os.path.join(session, f"tls-{base - 5}-*.c2s"))):
            for u in split_rtsp(read(path)):
                if u[0] != "request":
                    continue
                parts = first_line(u[1]).split(" ")
                if len(parts) < 2:
                    continue
                target = parts[1]
                path_only = target.split("?")[0]
                c.add("web_request_target", client, f"{variant}{path_only.replace('/', '-')}", target.encode())
                q = dict(urllib.parse.parse_qsl(target.split("?", 1)[1] if "?" in target else ""))
                if path_only == "/pair":
                    pairing_targets.append((client, q))
                if "rikey" in q:
                    rikey = bytes.fromhex(q["rikey"])
        for path in sorted(glob.glob(os.path.join(session, f"tcp-{base + 21}-*.c2s"))):
            for u in split_rtsp(read(path)):
                if u[0] != "request":
                    continue
                line = first_line(u[1])
                method = line.split(" ")[0]
                stream_id = re.search(r"streamid=(\w+)", line)
                what = f"{variant}-{method}" + (f"-{stream_id.group(1)}" if stream_id else "")
                c.add("gs_handshake", client, what, u[1])
                if method == "ANNOUNCE":
                    c.add("gs_announce", client, variant, u[1].split(b"\r\n\r\n", 1)[1])
        for path in sorted(glob.glob(os.path.join(session, f"tcp-{base + 21}-*.s2c"))):
            for u in split_rtsp(read(path)):
                if u[0] == "response":
                    c.add("rtsp_response", "funkhaus_gamestream", variant, u[1])
        for port in (base + 9, base + 11):
            pings = datagrams(os.path.join(session, f"udp-{port}.jsonl"))
            for p in pings[:1] + pings[-1:]:
                c.add("gs_ping", client, f"{variant}-{port - base}", p)
                if len(p) == len(PING_PAYLOAD) + 4:
                    # The same ping with the fuzz target's payload, so that it is accepted.
                    c.add("gs_ping", client, f"{variant}-{port - base}-fuzzpayload", PING_PAYLOAD + p[16:])
        control = datagrams(os.path.join(session, f"udp-{base + 10}.jsonl"))
        if control:
            # gs_enet: the harness made its own CONNECT and acknowledged VERIFY_CONNECT; the
            # client's datagrams from the one after its CONNECT on, in two runs.
            after = [d for d in control if struct.unpack(">H", d[:2])[0] & 0x0FFF != 0x0FFF]
            half = max(1, len(after) // 2)
            c.add("gs_enet", client, f"{variant}-first", enet_records(after[:half][:80]))
            c.add("gs_enet", client, f"{variant}-rest", enet_records(after[half:][:80]))
            types_seen, magics_seen = collections.Counter(), collections.Counter()
            for packet in enet_packets(control):
                opened = open_control(rikey, packet)
                if not opened:
                    continue
                t, payload, seq, legacy = opened
                types_seen[t] += 1
                if t == 0x0206:
                    magic = struct.unpack("<I", payload[4:8])[0] if len(payload) >= 8 else 0
                    magics_seen[magic] += 1
                    if magics_seen[magic] <= 3:
                        c.add("gs_input", client, f"{variant}-{magic:x}", payload)
                if types_seen[t] > (12 if t == 0x0206 else 2):
                    continue
                c.add("gs_control_message", client, f"{variant}-{t:04x}", struct.pack("<H", t) + payload)
                if seq is not None and types_seen[t] <= 2:
                    c.add("gs_control_message", client, f"{variant}-{t:04x}-sealed",
                          seal_control(FUZZ_KEY, seq, t, payload, legacy))

    # ---- Pairing (Moonlight Embedded's /pair steps, in web_pairing_fuzz.cpp's records)
    def record(op, address, arg):
        arg = arg[: 255 * 4]
        arg = arg[: len(arg) // 4 * 4]
        return bytes([op, address, len(arg) // 4]) + arg
    steps = {"salt": 0, "clientchallenge": 3, "serverchallengeresp": 4, "clientpairingsecret": 5}
    seed = b""
    for client, q in pairing_targets:
        for name, op in steps.items():
            if name in q:
                seed += record(op, 0, q[name].encode())
                if name == "salt":
                    seed += record(2, 0, b"1234")  # the PIN entered at the host (funkhausctl pair 1234)
    if seed:
        c.add("web_pairing", "moonlight", "pair", seed)
        c.add("web_pairing", "moonlight", "pair-expire", seed + record(7, 0, b"x" * 64) + record(8, 0, b""))

    # ---- the console's own pages in Chromium (record_console.py): console_request_fuzz.cpp's
    # lines; the session cookie and a CSRF token Chromium sent become "@" (the fuzz world's
    # valid session and token) and the console's own origin becomes the fuzz world's
    # (https://127.0.0.1:47990); other values stay as sent.
    for path in sorted(glob.glob(os.path.join(cap, "console", "tls-*.c2s"))):
        for u in split_rtsp(read(path)):
            if u[0] != "request":
                continue
            head, _, body = u[1].partition(b"\r\n\r\n")
            method, target = first_line(head).split(" ")[:2]

            def field(name):
                v = header(head, name)
                return v.decode("latin-1") if v is not None else ""
            cookie = field("Cookie")
            cookie = "@" if cookie.startswith("fh_session=") else cookie
            csrf = "@" if field("X-CSRF-Token") else ""
            origin = field("Origin")
            if origin == "https://" + field("Host"):
                origin = "https://127.0.0.1:47990"  # the console's own origin in the fuzz world
            lines = [method, target, cookie, origin, field("Sec-Fetch-Site"), csrf,
                     field("Content-Type")]
            c.add("console_request", "chromium", f"{method}{target.split('?')[0].replace('/', '-')}",
                  "\n".join(lines).encode("latin-1") + b"\n" + body)

    # ---- funkhausctl on the control socket; capture ids from its replies
    for path in sorted(glob.glob(os.path.join(cap, "ctl*", "unix-*.c2s"))):
        for line in read(path).split(b"\n"):
            if line.strip():
                cmd = json.loads(line).get("cmd", "x") if line.startswith(b"{") else "x"
                c.add("control_request", "funkhausctl", cmd, line)
    for path in sorted(glob.glob(os.path.join(cap, "ctl*", "unix-*.s2c"))):
        for m in re.finditer(rb'"id"\s*:\s*"([^"]{1,64})"', read(path)):
            c.add("console_capture_id", "funkhausctl", "id", m.group(1))

    # ---- strace: channel messages and vdisplay datagrams as funkhausd and its workers sent them
    per_type = collections.Counter()
    for path in sorted(glob.glob(os.path.join(cap, "strace-*", "pid.*"))):
        for data, fds in strace_messages(path):
            if data[:4] == b"FHMS" and len(data) >= 16:
                t = struct.unpack("<H", data[6:8])[0]
                per_type[("ch", t)] += 1
                if per_type[("ch", t)] <= 4:
                    c.add("channel_message", "strace", f"type{t}", bytes([fds]) + data)
            elif data[:4] == b"FHVD" and len(data) >= 24:
                t = struct.unpack("<H", data[8:10])[0]
                reply = 1 if t & 0x8000 else 0
                per_type[("vd", t)] += 1
                if per_type[("vd", t)] <= 3:
                    c.add("vdisplay_message", "strace", f"type{t:x}", bytes([(fds % 3) << 1 | reply]) + data)

    # ---- shared memory: rings and the net state page, as funkhausd held them
    layout = net_state_layout(a.repo)
    for path in sorted(glob.glob(os.path.join(cap, "memfd-*", "*.bin"))):
        data = read(path)
        phase = os.path.basename(os.path.dirname(path)).split("-", 1)[1]
        magic = data[:4]
        if magic == b"FHNS" and layout:
            c.add("net_state", "memfd", phase, net_state_input(data, layout))
        elif len(data) <= 262144:
            target = {b"FHFR": "frame_ring_attach", b"FHPR": "packet_ring_attach", b"FHIR": "input_ring_attach"}.get(magic)
            if target:
                c.add(target, "memfd", phase, data)

    # ---- configs: the shipped one, and the one record.sh ran funkhausd with
    shipped = os.path.join(a.repo, "packaging", "funkhaus.toml")
    if os.path.exists(shipped):
        text = read(shipped)
        c.add("config", "shipped", "funkhaus.toml", text)
        # The same file with its documented (commented-out) settings switched on.
        on = re.sub(rb"(?m)^#([a-z_]+ *=)", rb"\1", text)
        c.add("config", "shipped", "funkhaus.toml-uncommented", on)
    for path in sorted(glob.glob(os.path.join(cap, "funkhaus-*.toml"))):
        c.add("config", "record", "funkhaus.toml", read(path))

    # ---- each target's own valid seeds (fuzzSeeds()), written by its gcc build
    if a.bin:
        for exe in sorted(glob.glob(os.path.join(a.bin, "fuzz_*"))):
            target = os.path.basename(exe)[5:]
            tmp = os.path.join(cap, "builtin", target)
            os.makedirs(tmp, exist_ok=True)
            if subprocess.run([exe, "--write-seeds", tmp], capture_output=True).returncode != 0:
                continue
            for p in sorted(glob.glob(os.path.join(tmp, "seed-*")), key=lambda p: int(p.rsplit("-", 1)[1])):
                data = read(p)
                if len(data) <= 262144:
                    c.add(target, "builtin", "fuzzSeeds", data, always=True)
    c.write()


def barcode_seeds(c, h264, client, variant, width, height, rows=64):
    """barcode_read's input from pictures the viewer decoded: [LE16 width-1][height-1][0], then
    the top `rows` rows of luma (the barcode band sits in the top-left corner)."""
    try:
        luma = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "quiet", "-i", h264, "-frames:v", "1",
                               "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    except (subprocess.CalledProcessError, OSError):
        return
    frame = width * height
    for k in range(len(luma) // frame):
        top = luma[k * frame:k * frame + width * rows]
        c.add("barcode_read", client, f"{variant}-frame{k}",
              struct.pack("<HBB", width - 1, rows - 1, 0) + top)


def net_state_layout(repo):
    """Offsets net_state_fuzz.cpp cuts its input by, from the shm-abi headers (a tiny program)."""
    src = r'''
#include <cstddef>
#include <cstdio>
#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/rtsp_state.h"
using namespace funkhaus::abi;
int main() {
  std::printf("{\"header\": %zu, \"blob_prefix\": %zu, \"connection_header\": %zu, \"connection\": %zu, "
              "\"viewer\": %zu, \"connections_at\": %zu, \"max\": %u, \"viewers_at\": %zu}\n",
              offsetof(NetStatePage, connections), offsetof(RtspState, viewers),
              offsetof(NetConnectionSlot, out_data), sizeof(NetConnectionSlot),
              sizeof(RtspViewerSlot), offsetof(NetStatePage, connections), kMaxConnections,
              offsetof(RtspState, viewers));
}
'''
    out = "/tmp/funkhaus-net-state-layout"
    try:
        subprocess.run(["c++", "-std=c++20", "-I", os.path.join(repo, "shm-abi/include"), "-x", "c++", "-",
                        "-o", out], input=src.encode(), check=True, capture_output=True)
        return json.loads(subprocess.run([out], check=True, capture_output=True).stdout)
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"make_corpus: no net state layout: {e}", file=sys.stderr)
        return None


def net_state_input(page, L):
    """net_state_fuzz.cpp's input from a real page: the header, the RTSP blob's prefix, then each
    used connection slot's header and its viewer slot (the RTSP blob is found by its magic)."""
    blob = page.find(b"FHRT")
    if blob < 0:
        return None
    out = page[:L["header"]] + page[blob:blob + L["blob_prefix"]]
    last_used = 0
    for i in range(L["max"]):
        c = page[L["connections_at"] + i * L["connection"]:][:L["connection"]]
        if any(c[:16]):
            last_used = i + 1
    for i in range(max(1, last_used)):
        c = page[L["connections_at"] + i * L["connection"]:][:L["connection_header"]]
        v = page[blob + L["viewers_at"] + i * L["viewer"]:][:L["viewer"]]
        out += c + v
    return out


if __name__ == "__main__":
    main()
