"""A real funkhausd for the console's browser tests: user mode, the streaming pipeline (capture,
encode, net on the synthetic source), GameStream and the console on free loopback ports, its own
control socket and state directory; plus funkhausctl, headless Chromium and Moonlight Embedded.

Set up as supervisor/test/funkhausd_process.h does for the C++ tests: a worker directory of
symlinks to build/bin, XDG_STATE_HOME under the test's directory, funkhausd killed with its test
(PR_SET_PDEATHSIG). Test processes only.
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

# Exit code ctest reads as "skipped" (SKIP_RETURN_CODE in tests/console/CMakeLists.txt).
SKIP = 77

WORKERS = ("vdisplay", "capture", "encode", "net", "input", "audio", "web", "console")


class Skip(Exception):
    """Something the test needs is not on this machine: the test is skipped with this text."""


def wait_for(what, timeout, pred, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_tcp_port(avoid=()):
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise AssertionError("no free port on loopback")


def _bindable(port, kind):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_gamestream_base_port():
    """A base port whose derived GameStream ports are free too (tests/client/gamestream_ports.h)."""
    for _ in range(100):
        port = free_tcp_port()
        if port <= 2000 or port > 65000 or port == 47989:
            continue
        if all(_bindable(port + o, k) for o in (0, -5, 21, 9, 10, 11)
               for k in (socket.SOCK_STREAM, socket.SOCK_DGRAM)):
            return port
    raise AssertionError("no free GameStream port set on loopback")


def _die_with_parent():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Host:
    """funkhausd with the console; `url` is the console's https address."""

    @staticmethod
    def check_built(bin_dir, web_root):
        """Raises Skip when a program or the front end is not built."""
        for tool in ("funkhausd", "funkhausctl", "funkhaus-console"):
            if not os.access(os.path.join(bin_dir, tool), os.X_OK):
                raise Skip(f"{tool} is not built in {bin_dir}")
        if not os.path.isfile(os.path.join(web_root, "index.html")):
            raise Skip(f"the console's front end is not built in {web_root} (it needs npm: "
                       "console-worker/web/CMakeLists.txt)")

    def __init__(self, bin_dir, web_root, password="correct horse battery staple",
                 monitor=False):
        """`monitor`: the session gets a virtual monitor (vdisplay on Xvfb, 640x480 at 30 Hz)
        that capture grabs, instead of the synthetic source."""
        self.bin_dir = os.path.abspath(bin_dir)
        self.check_built(self.bin_dir, web_root)
        if monitor and not shutil.which("Xvfb"):
            raise Skip("Xvfb is not installed (scripts/install-deps.sh)")
        self.monitor = monitor
        self.dir = tempfile.mkdtemp(prefix="funkhaus-console-test-")
        self.password = password
        self.proc = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        wdir = os.path.join(self.dir, "bin")
        os.makedirs(wdir)
        for w in WORKERS:
            target = os.path.join(self.bin_dir, f"funkhaus-{w}")
            if os.access(target, os.X_OK):
                os.symlink(target, os.path.join(wdir, f"funkhaus-{w}"))
        self.socket = os.path.join(self.dir, "control.sock")
        self.gamestream_port = free_gamestream_base_port()
        gamestream_ports = {self.gamestream_port + o for o in (0, -5, 21, 9, 10, 11)}
        self.console_port = free_tcp_port(avoid=gamestream_ports)
        workers = '"vdisplay", ' if self.monitor else ""
        config = f"""[control]
socket = "{self.socket}"
[workers]
heartbeat_timeout_ms = 1000
start = [{workers}"capture", "encode", "net"]
[net]
port = 0
[gamestream]
base_port = {self.gamestream_port}
listen_address = "127.0.0.1"
name = "funkhaus-console-test"
mdns = false
[console]
address = "127.0.0.1"
port = {self.console_port}
[encode]
bitrate_kbps = 1000
preset = "superfast"
"""
        if self.monitor:
            config += """[capture]
source = "vdisplay"
fps = 30
[vdisplay]
width = 640
height = 480
refresh_hz = 30
fb_width = 1024
fb_height = 768
[rings]
max_width = 1024
max_height = 768
"""
        else:
            config += """[capture]
width = 320
height = 180
fps = 30
[rings]
max_width = 320
max_height = 180
"""
        self.config = os.path.join(self.dir, "funkhaus.toml")
        with open(self.config, "w") as f:
            f.write(config)
        env = dict(os.environ)
        env["XDG_STATE_HOME"] = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "funkhausd.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [os.path.join(self.bin_dir, "funkhausd"), "--mode", "user", "--config",
                 self.config, "--worker-dir", wdir],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                preexec_fn=_die_with_parent)
        self.url = f"https://127.0.0.1:{self.console_port}/"
        try:
            wait_for("the workers and the console to run", 30, self._all_running)
            wait_for("the console to serve its page", 20, self._serves)
        except AssertionError as e:
            raise AssertionError(f"{e}\nstatus: {self.status()}\n"
                                 f"funkhausd log (tail):\n{self.log()[-4000:]}") from None
        out = self.ctl("console-password", "--stdin", input=f"{self.password}\n")
        if out.returncode != 0:
            raise AssertionError(f"funkhausctl console-password failed: {out.stdout}")

    def _all_running(self):
        s = self.status()
        if not s or not s.get("sessions"):
            return False
        workers = s["sessions"][0]["workers"] + s.get("host_workers", [])
        names = {w["name"] for w in workers}
        return "console" in names and all(w.get("state") == "running" for w in workers)

    def _serves(self):
        try:
            with urllib.request.urlopen(self.url, context=_insecure(), timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def call(self, request):
        """One control request; the reply parsed, or None when funkhausd cannot be reached."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(self.socket)
                s.sendall((json.dumps(request) + "\n").encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            return json.loads(data)
        except (OSError, ValueError):
            return None

    def status(self):
        return self.call({"cmd": "status"})

    def worker(self, name):
        s = self.status() or {}
        for w in (s.get("sessions") or [{}])[0].get("workers", []) + s.get("host_workers", []):
            if w["name"] == name:
                return w
        return None

    def pid_of(self, name):
        w = self.worker(name)
        return w.get("pid") if w and w.get("state") == "running" else None

    def ctl(self, *args, input=None):
        return subprocess.run([os.path.join(self.bin_dir, "funkhausctl"), "--socket", self.socket,
                               *args], input=input, capture_output=True, text=True, timeout=30)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _insecure():
    # The console's certificate is the host's self-signed one.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def browser(download_dir=None):
    """Headless Debian Chromium through chromedriver (python3-selenium)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_bin = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not os.access(chromium, os.X_OK) or not os.access(driver_bin, os.X_OK):
        raise Skip("chromium and chromium-driver are not installed (scripts/install-deps.sh)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise Skip("python3-selenium is not installed (scripts/install-deps.sh)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1000", "--ignore-certificate-errors", "--no-first-run",
              "--disable-extensions", "--force-color-profile=srgb"):
        opts.add_argument(a)
    opts.accept_insecure_certs = True
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_bin), options=opts)


def find_moonlight(source_dir):
    """Moonlight Embedded's binary (built by shared/tools/build-moonlight-embedded.sh when
    absent), as tests/support/source/moonlight.cpp finds it."""
    given = os.environ.get("FUNKHAUS_MOONLIGHT")
    if given:
        if os.access(given, os.X_OK):
            return given
        raise Skip(f"FUNKHAUS_MOONLIGHT={given} is not an executable")
    script = None
    tools = os.environ.get("FUNKHAUS_TEST_TOOLS")
    if tools:
        p = os.path.join(tools, "build-moonlight-embedded.sh")
        script = p if os.path.exists(p) else None
    else:
        d = os.path.abspath(source_dir)
        while True:
            p = os.path.join(d, "shared/tools/build-moonlight-embedded.sh")
            if os.path.exists(p):
                script = p
                break
            if os.path.dirname(d) == d:
                break
            d = os.path.dirname(d)
    if not script:
        raise Skip("Moonlight Embedded is not available: no shared/tools/"
                   "build-moonlight-embedded.sh above the source tree (set FUNKHAUS_TEST_TOOLS "
                   "or FUNKHAUS_MOONLIGHT)")
    run = subprocess.run([script], capture_output=True, text=True, timeout=1800)
    path = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    if run.returncode != 0 or not os.access(path, os.X_OK):
        raise Skip(f"Moonlight Embedded could not be built by {script} (exit {run.returncode})")
    return path
