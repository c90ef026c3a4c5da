#!/usr/bin/env python3
"""The web console in a real browser (issue 16, ctest label "client"): headless Chromium driven
by python3-selenium against a real funkhausd (user mode, streaming pipeline) and its real
funkhaus-console. Log in; see the workers; restart encode from its button and see its pid change
without a reload; record a stats capture for 5 s and check its graph (uPlot's data and a
screenshot that is not blank); enter the PIN of a pending `moonlight pair`; survive a kill -9 of
the console. Figures (printed, not asserted): page load time, restart -> table event latency.

  console_browser_test.py --bin-dir build/bin --web-root build/console-web --source-dir . \
      [ConsoleBrowserTest.test_...]

Exit status 77 (ctest: skipped) when chromium, chromedriver, python3-selenium, the console or
Moonlight Embedded (pairing only) is missing, with the reason printed.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_host  # noqa: E402
import png_colours  # noqa: E402
from console_host import Skip, wait_for  # noqa: E402

ARGS = None

# The first colour of the stats page's palette (console-worker/web/src/stats_page.ts).
FIRST_SERIES_RGB = (0x1F, 0x77, 0xB4)


class ConsoleBrowserTest(unittest.TestCase):
    def setUp(self):
        try:
            console_host.Host.check_built(ARGS.bin_dir, ARGS.web_root)
            self.driver = console_host.browser()
        except Skip as e:
            self.skipTest(str(e))
        self.addCleanup(self.driver.quit)
        try:
            monitor = self._testMethodName == "test_virtual_monitor_mode"
            self.host = console_host.Host(ARGS.bin_dir, ARGS.web_root, monitor=monitor)
        except Skip as e:
            self.skipTest(str(e))
        self.addCleanup(self.host.close)
        self.addCleanup(self._check_browser_log)
        self.driver.set_script_timeout(20)

    def _failed(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        errors = getattr(result, "failures", []) + getattr(result, "errors", [])
        return any(t is self for t, _ in errors)

    def _check_browser_log(self):
        """The page's console: printed when the test failed; a CSP violation or an uncaught
        script error fails the test (the console sends `default-src 'self'`)."""
        try:
            entries = self.driver.get_log("browser")
        except Exception:  # noqa: BLE001 - the browser is gone: nothing to read
            entries = []
        if self._failed():
            print("---- funkhausd log (tail) ----\n" + self.host.log()[-6000:])
            for entry in entries[-30:]:
                print("browser:", entry.get("level"), entry.get("message"))
        bad = [e["message"] for e in entries
               if "Content Security Policy" in e.get("message", "")
               or "Uncaught" in e.get("message", "")]
        self.assertEqual(bad, [], "the page broke its CSP or threw")

    # --- helpers -------------------------------------------------------------------------

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text_of(self, css):
        return self.js("const e = document.querySelector(arguments[0]);"
                       "return e ? e.textContent : null;", css)

    def visible(self, css):
        return self.js("const e = document.querySelector(arguments[0]);"
                       "return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;",
                       css)

    def table_pid(self, worker):
        text = self.text_of(f'#workers tr[data-worker="{worker}"] td.pid')
        return int(text) if text and text.isdigit() else None

    def login(self):
        self.driver.get(self.host.url)
        wait_for("the login form", 15, lambda: self.visible("#password"))
        self.find("#password").send_keys(self.host.password + "\n")
        wait_for("the worker table after login", 15, lambda: self.table_pid("encode"))

    def go(self, page):
        self.find(f'nav a[href="#/{page}"]').click()
        wait_for(f"the {page} page", 10, lambda: self.visible(f"#page-{page}"))

    # --- tests ---------------------------------------------------------------------------

    def test_login_and_workers(self):
        self.driver.get(self.host.url)
        wait_for("the login form", 15, lambda: self.visible("#password"))
        # A wrong password is refused and said so; the app stays behind the login.
        self.find("#password").send_keys("not the password\n")
        wait_for("the wrong-password message", 10,
                 lambda: "Wrong password" in (self.text_of("#login-msg") or ""))
        self.assertFalse(self.visible("#workers"))
        self.find("#password").clear()
        self.find("#password").send_keys(self.host.password + "\n")
        wait_for("the worker table", 15, lambda: self.table_pid("encode"))
        # Every worker of the host and the session has its row with the pid funkhausd reports.
        for name in ("capture", "encode", "net", "web", "console"):
            wait_for(f"{name}'s pid in the table", 10,
                     lambda n=name: self.table_pid(n) and self.table_pid(n) == self.host.pid_of(n))
            self.assertEqual(self.text_of(f'#workers tr[data-worker="{name}"] td.state'),
                             "running")
        # The session survives a reload (cookie), and the table is filled again by itself.
        loads = []
        for _ in range(5):
            self.driver.get(self.host.url)
            filled = wait_for("the table after a reload", 15, lambda: self.js(
                "return window.funkhausConsole && window.funkhausConsole.tableFilledAt();"))
            loads.append(filled)
        self.assertFalse(self.visible("#password"))
        print(f"[figures] console page load, navigation start -> worker table filled (warm "
              f"cache, logged in, 5 loads): median {statistics.median(loads):.0f} ms, "
              f"min {min(loads):.0f} ms, max {max(loads):.0f} ms")
        # Logging out ends the session: a reload shows the login form.
        self.find("#logout").click()
        wait_for("the login form after logout", 10, lambda: self.visible("#password"))
        self.driver.get(self.host.url)
        wait_for("the login form after a reload", 10, lambda: self.visible("#password"))

    def test_restart_encode_from_its_button(self):
        self.login()
        old = wait_for("encode's pid", 10, lambda: self.table_pid("encode"))
        # A mark on the page: it survives only if the page is not reloaded.
        self.js("window.__notReloaded = true;")
        # The keyboard: focus stays on the button through the pushed updates (rows are updated
        # in place), and Enter presses it.
        from selenium.webdriver.common.keys import Keys
        button = self.find('#workers tr[data-worker="encode"] button[data-action="restart"]')
        self.js("arguments[0].focus();", button)
        events = self.js("return window.funkhausConsole.app.stream.events;")
        wait_for("three more status events", 10, lambda: self.js(
            "return window.funkhausConsole.app.stream.events;") >= events + 3)
        self.assertTrue(self.js("return document.activeElement === arguments[0];", button),
                        "the restart button lost the focus to an update")
        button.send_keys(Keys.ENTER)
        new = wait_for("encode's new pid in the table", 20,
                       lambda: (p := self.table_pid("encode")) and p != old and p)
        self.assertTrue(self.js("return window.__notReloaded === true;"), "the page reloaded")
        self.assertIn("restart requested", self.text_of("#worker-msg"))
        wait_for("funkhausd to report the same pid", 10, lambda: self.host.pid_of("encode") == new)

        # Event latency: funkhausctl restart encode -> the new pid in the browser's table. A
        # MutationObserver on the pid cell notes when it changes (same clock as this process).
        latencies = []
        for _ in range(5):
            wait_for("encode running", 20, lambda: self.host.pid_of("encode"))
            before = self.table_pid("encode")
            self.js("""
              window.__pidChangedAt = null;
              const cell = document.querySelector('#workers tr[data-worker="encode"] td.pid');
              const before = cell.textContent;
              const obs = new MutationObserver(() => {
                if (/^\\d+$/.test(cell.textContent) && cell.textContent !== before) {
                  window.__pidChangedAt = Date.now(); obs.disconnect();
                }
              });
              obs.observe(cell, {childList: true, characterData: true, subtree: true});""")
            t0 = time.time() * 1000
            out = self.host.ctl("restart", "encode")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            changed = wait_for("the new pid in the table", 20,
                               lambda: self.js("return window.__pidChangedAt;"))
            self.assertNotEqual(self.table_pid("encode"), before)
            latencies.append(changed - t0)
        self.assertTrue(self.js("return window.__notReloaded === true;"), "the page reloaded")
        print(f"[figures] event latency, funkhausctl restart encode -> new pid in the browser's "
              f"table (SSE): median {statistics.median(latencies):.0f} ms over "
              f"{len(latencies)} restarts (min {min(latencies):.0f}, max {max(latencies):.0f})")


    def test_logs_page(self):
        self.login()
        out = self.host.ctl("restart", "encode")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.go("logs")
        # funkhausd's line about the restart, as the log has it; followed without a reload.
        wait_for("the restart in the logs", 15,
                 lambda: "encode: restart requested" in (self.text_of("#logs-body") or ""))
        out = self.host.ctl("restart", "net")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        wait_for("net's restart in the followed logs", 15,
                 lambda: "net: restart requested" in (self.text_of("#logs-body") or ""))
        # Only warnings and errors: the info lines about the restarts are filtered out.
        from selenium.webdriver.support.ui import Select
        Select(self.find("#logs-level")).select_by_value("warning")
        wait_for("the info lines to be filtered out", 10,
                 lambda: "restart requested" not in (self.text_of("#logs-body") or ""))

    def test_stats_capture_graph(self):
        self.login()
        self.go("stats")
        self.find("#capture-name").send_keys("browser")
        self.find("#capture-start").click()
        armed = wait_for("the capture to be armed", 10,
                         lambda: (t := self.text_of("#capture-armed")) and "Recording" in t and t)
        self.assertIn("browser", armed)
        time.sleep(5)
        wait_for("the stop button", 5, lambda: self.find("#capture-stop").is_enabled())
        self.find("#capture-stop").click()
        wait_for("the stop message", 10,
                 lambda: "stopped with" in (self.text_of("#capture-msg") or ""))
        wait_for("the list to show nothing recording", 10,
                 lambda: "Not recording" in (self.text_of("#capture-armed") or ""))
        row = wait_for("the capture in the list", 10, lambda: self.js(
            "const r = [...document.querySelectorAll('#captures-body tr')]"
            ".find(r => r.dataset.capture.endsWith('-browser'));"
            "return r ? [r.dataset.capture, r.querySelector('td.samples').textContent] : null;"))
        capture_id, samples = row
        self.assertGreaterEqual(int(samples), 4, f"{capture_id}: {samples} samples in 5 s")
        self.assertFalse(self.find("#capture-stop").is_enabled())
        # Open its graphs.
        self.find(f'input[id="pick-{capture_id}"]').click()
        wait_for("the charts", 15, lambda: self.js(
            "return window.funkhausConsole.charts.size > 0;"))
        # uPlot's own data: x is seconds since start, one line for the one capture; the
        # capture worker's fps series holds at least 4 samples near the configured 30 fps.
        data = self.js("""
          const out = {};
          for (const [name, u] of window.funkhausConsole.charts)
            out[name] = {x: u.data[0], y: u.data[1], series: u.series.length};
          return out;""")
        self.assertIn("capture.fps", data, sorted(data))
        fps = data["capture.fps"]
        self.assertEqual(fps["series"], 2)  # x plus one capture
        self.assertGreaterEqual(len(fps["x"]), 4)
        self.assertEqual(fps["x"], sorted(fps["x"]))
        self.assertLessEqual(fps["x"][0], 2)  # seconds since start, not a clock time
        values = [v for v in fps["y"] if isinstance(v, (int, float))]
        self.assertGreaterEqual(len(values), 4, fps)
        self.assertTrue(all(20 <= v <= 40 for v in values), values)
        # A screenshot of that chart is not blank: many colours (axes, text, anti-aliased
        # line) and a line drawn in the first series' colour.
        chart = self.find('figure.chart[data-series="capture.fps"]')
        self.driver.execute_script("arguments[0].scrollIntoView();", chart)
        counts = png_colours.colour_counts(chart.screenshot_as_png)
        line = png_colours.pixels_near(counts, FIRST_SERIES_RGB)
        print(f"[figures] capture.fps chart screenshot: {len(counts)} distinct colours, "
              f"{line} pixels in the line's colour, {len(values)} samples")
        self.assertGreater(len(counts), 20)
        self.assertGreater(line, 100)
        # A second capture overlays the first: two lines on each chart.
        self.find("#capture-name").clear()
        self.find("#capture-name").send_keys("second")
        self.find("#capture-start").click()
        wait_for("the second capture", 10,
                 lambda: "second" in (self.text_of("#capture-armed") or ""))
        time.sleep(3)
        wait_for("the stop button", 5, lambda: self.find("#capture-stop").is_enabled())
        self.find("#capture-stop").click()
        wait_for("the list to show nothing recording", 10,
                 lambda: "Not recording" in (self.text_of("#capture-armed") or ""))
        second = wait_for("the second capture in the list", 10, lambda: self.js(
            "const r = [...document.querySelectorAll('#captures-body tr')]"
            ".find(r => r.dataset.capture.endsWith('-second'));"
            "return r ? r.dataset.capture : null;"))
        self.find(f'input[id="pick-{second}"]').click()
        wait_for("two lines on the fps chart", 15, lambda: self.js(
            "const u = window.funkhausConsole.charts.get('capture.fps');"
            "return u && u.series.length === 3 && u.data[2].some(v => typeof v === 'number');"))

    def test_pairing_with_moonlight(self):
        try:
            moonlight = console_host.find_moonlight(ARGS.source_dir)
        except Skip as e:
            self.skipTest(str(e))
        self.login()
        self.go("pairing")
        wait_for("the empty pairing list", 10, lambda: self.visible("#pending-empty"))
        client = os.path.join(self.host.dir, "client")
        os.makedirs(client)
        env = dict(os.environ, HOME=client, XDG_CACHE_HOME=os.path.join(client, ".cache"),
                   XDG_CONFIG_HOME=os.path.join(client, ".config"))
        log = open(os.path.join(client, "moonlight.log"), "w+")
        self.addCleanup(log.close)
        pair = subprocess.Popen(
            [moonlight, "pair", "-keydir", os.path.join(client, "keys"), "-port",
             str(self.host.gamestream_port), "-pin", "4321", "127.0.0.1"],
            stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: pair.poll() is None and (pair.kill(), pair.wait()))
        # The pending request appears by itself (pushed count, list refresh).
        wait_for("the pending request", 30, lambda: "waiting for the PIN" in (
            self.text_of("#pending-body") or ""))
        self.assertIn("127.0.0.1", self.text_of("#pending-body"))
        # The keyboard only: focus the PIN field, type it, Enter submits.
        pin = self.find("#pin")
        pin.click()
        pin.send_keys("4321\n")
        wait_for("the PIN to be accepted", 15,
                 lambda: "PIN accepted" in (self.text_of("#pair-msg") or ""))
        pair.wait(timeout=60)
        log.seek(0)
        self.assertIn("Succesfully paired", log.read())
        wait_for("the paired client in the list", 15, lambda: self.finds("#clients-body tr"))
        self.assertIn("roth", self.text_of("#clients-body"))  # Moonlight Embedded's name
        # Unpair from the console: the client is gone for funkhausd too.
        self.find("#clients-body button.unpair").click()
        self.driver.switch_to.alert.accept()
        wait_for("the client list to empty", 15, lambda: self.visible("#clients-empty"))
        clients = self.host.call({"cmd": "clients"})
        self.assertEqual(clients.get("clients"), [], clients)

    def test_virtual_monitor_mode(self):
        self.login()
        wait_for("the monitor's mode", 20,
                 lambda: "640×480 at 30 Hz" in (self.text_of("#mode-current") or ""))
        # The form starts from the current mode; a new one is applied live and pushed back.
        self.assertEqual(self.find("#mode-width").get_attribute("value"), "640")
        for css, value in (("#mode-width", "800"), ("#mode-height", "600")):
            self.find(css).clear()
            self.find(css).send_keys(value)
        self.find("#mode-refresh").send_keys("\n")  # Enter submits the form
        wait_for("the mode change's answer", 20,
                 lambda: "Mode set: 800×600" in (self.text_of("#mode-msg") or ""))
        wait_for("the new mode in the pushed status", 20,
                 lambda: "800×600" in (self.text_of("#mode-current") or ""))
        monitors = self.host.status()["sessions"][0]["monitors"]
        self.assertEqual((monitors[0]["width"], monitors[0]["height"]), (800, 600))
        # A mode the monitor cannot take is refused, and the page says why.
        self.find("#mode-width").clear()
        self.find("#mode-width").send_keys("5000")
        self.find("#mode-form button[type=submit]").click()
        wait_for("the refusal", 20,
                 lambda: "Mode change failed" in (self.text_of("#mode-msg") or ""))

    def test_page_reconnects_after_kill_of_the_console(self):
        self.login()
        old = wait_for("the console's pid", 10, lambda: self.table_pid("console"))
        self.js("window.__notReloaded = true;")
        os.kill(old, 9)
        wait_for("the reconnecting banner", 10, lambda: self.visible("#banner") and "reconnect"
                 in (self.text_of("#banner") or ""))
        t0 = time.monotonic()
        new = wait_for("the restarted console's pid in the table", 60, lambda: (
            p := self.table_pid("console")) and p != old and p)
        took = (time.monotonic() - t0) * 1000
        self.assertFalse(self.visible("#password"), "the restarted console forgot the session")
        self.assertFalse(self.visible("#banner"))
        self.assertTrue(self.js("return window.__notReloaded === true;"), "the page reloaded")
        self.assertEqual(self.host.pid_of("console"), new)
        # Still steering: a restart of net from its button works over the new console.
        old_net = self.table_pid("net")
        self.find('#workers tr[data-worker="net"] button[data-action="restart"]').click()
        wait_for("net's new pid", 20, lambda: (p := self.table_pid("net")) and p != old_net)
        print(f"[figures] kill -9 of the console -> page shows the restarted console's pid: "
              f"{took:.0f} ms after the banner appeared (EventSource reconnect, no reload)")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--web-root", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("tests", nargs="*")
    ARGS = parser.parse_args()
    loader = unittest.TestLoader()
    if ARGS.tests:
        suite = loader.loadTestsFromNames(ARGS.tests, sys.modules[__name__])
    else:
        suite = loader.loadTestsFromTestCase(ConsoleBrowserTest)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    for test, reason in result.skipped:
        print(f"SKIPPED {test.id()}: {reason}")
    if not result.wasSuccessful():
        return 1
    if result.skipped and len(result.skipped) == result.testsRun:
        return console_host.SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main())
