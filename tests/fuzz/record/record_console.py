#!/usr/bin/python3
"""Records the web console's real client, its own pages in headless Chromium, for the
console_request seeds (test tooling, called by record.sh; Debian's python3 for python3-selenium).

funkhausd with funkhaus-console starts as the console browser tests start it
(tests/console/console_host.py); record_proxy.py sits between Chromium (127.0.0.2) and the console
(127.0.0.1), ends Chromium's TLS and writes the decrypted requests to CAPTURE/console/. The pages
are used as a person would: a wrong password, the right one, every page of the hash router, the
restart button of encode, a stats capture started and stopped from its page, logout.
Usage: record_console.py --bin DIR --web-root DIR --capture DIR. Exit 77 when a tool is missing.
"""
import argparse
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(here, "..", "..", "console"))
import console_host  # noqa: E402
from console_host import Skip, wait_for  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--web-root", required=True)
    ap.add_argument("--capture", required=True)
    a = ap.parse_args()
    try:
        driver = console_host.browser()
    except Skip as e:
        print(f"record_console: skipped: {e}", file=sys.stderr)
        return 77
    host = proxy = None
    try:
        try:
            host = console_host.Host(a.bin, a.web_root)
        except Skip as e:
            print(f"record_console: skipped: {e}", file=sys.stderr)
            return 77
        ready = os.path.join(host.dir, "proxy.ready")
        proxy = subprocess.Popen([sys.executable, os.path.join(here, "record_proxy.py"), "--listen", "127.0.0.2",
                                  "--target", "127.0.0.1", "--capture", os.path.join(a.capture, "console"),
                                  "--tls", str(host.console_port), "--ready", ready])
        wait_for("the proxy", 10, lambda: os.path.exists(ready))
        url = f"https://127.0.0.2:{host.console_port}/"
        driver.set_script_timeout(20)
        js = driver.execute_script

        def visible(css):
            return js("const e = document.querySelector(arguments[0]);"
                      "return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;", css)

        def find(css):
            from selenium.webdriver.common.by import By
            return driver.find_element(By.CSS_SELECTOR, css)

        driver.get(url)
        wait_for("the login form", 15, lambda: visible("#password"))
        find("#password").send_keys("not the password\n")
        time.sleep(1)
        find("#password").clear()
        find("#password").send_keys(host.password + "\n")
        wait_for("the worker table", 15, lambda: visible('#workers tr[data-worker="encode"]'))
        find('#workers tr[data-worker="encode"] button[data-action="restart"]').click()
        time.sleep(1.5)
        for page in ("stats", "logs", "pairing", "workers"):
            driver.get(url + "#/" + page)
            time.sleep(1.5)
        driver.get(url + "#/stats")
        time.sleep(1)
        for label in ("start", "stop"):
            buttons = [b for b in driver.find_elements("css selector", "button")
                       if b.text.strip().lower().startswith(label) and b.is_displayed()]
            if buttons:
                buttons[0].click()
                time.sleep(2)
        driver.get(url + "#/workers")
        time.sleep(1)
        if visible("#logout"):
            find("#logout").click()
            time.sleep(1)
        return 0
    finally:
        driver.quit()
        if proxy:
            proxy.terminate()
            proxy.wait()
        if host:
            host.close()


if __name__ == "__main__":
    sys.exit(main())
