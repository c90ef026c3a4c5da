// funkhaus web console: the single-page app. Login, then the pages (workers, pairing, stats,
// logs) behind a hash router; the live status comes pushed over server-sent events.

import "uplot/dist/uPlot.min.css";
import "./style.css";
import { api, ApiError, errorText, setCsrf, setUnauthorizedHandler } from "./api";
import { byId, clear, el, message } from "./dom";
import { LogsPage } from "./logs_page";
import type { Page } from "./page";
import { PairingPage } from "./pairing_page";
import { StatsPage } from "./stats_page";
import { StatusStream } from "./status";
import { WorkersPage } from "./workers_page";

interface App {
  stream: StatusStream;
  pages: Record<string, Page>;
  current: Page | null;
}

// For the browser tests and anyone at the devtools console: the live app, read-only use.
interface ConsoleHandle {
  app: App | null;
  charts: Map<string, unknown>;
  tableFilledAt: () => number | null;
}
declare global {
  interface Window {
    funkhausConsole: ConsoleHandle;
  }
}

let app: App | null = null;

function main(): HTMLElement {
  return byId("main");
}

function showLogin(reason = ""): void {
  if (app) {
    app.stream.stop();
    app.current?.hide();
    app = null;
    window.funkhausConsole.app = null;
    window.funkhausConsole.charts = new Map();
  }
  byId("nav").hidden = true;
  const password = el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = el("p", { class: "msg", id: "login-msg" });
  const form = el(
    "form",
    { id: "login-form", class: "login" },
    el("h2", {}, "Log in"),
    el("label", { for: "password" }, "Console password"),
    password,
    el("button", { type: "submit", id: "login-button" }, "Log in"),
    msg,
    el("p", { class: "help" }, "The password is set on the host with ", el("code", {}, "funkhausctl console-password"), "."),
  );
  if (reason) message(msg, reason, true);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api<{ csrf?: string }>("POST", "/api/login", { password: password.value });
      setCsrf(r.csrf ?? "");
      password.value = "";
      showApp();
    } catch (e) {
      const text =
        e instanceof ApiError && e.status === 401
          ? "Wrong password."
          : e instanceof ApiError && e.status === 429
            ? "Too many attempts: wait a minute and try again."
            : errorText(e);
      message(msg, text, true);
      password.select();
    }
  });
  clear(main());
  main().append(form);
  password.focus();
}

function showApp(): void {
  const stream = new StatusStream(() => showLogin("Your session ended: log in again."));
  const workers = new WorkersPage(stream);
  const stats = new StatsPage();
  app = {
    stream,
    pages: { workers, pairing: new PairingPage(stream), stats, logs: new LogsPage() },
    current: null,
  };
  window.funkhausConsole.app = app;
  window.funkhausConsole.charts = stats.plots;
  window.funkhausConsole.tableFilledAt = () => workers.filledAt;
  clear(main());
  for (const p of Object.values(app.pages)) {
    p.root.hidden = true;
    main().append(p.root);
  }
  byId("nav").hidden = false;
  stream.start();
  route();
}

function route(): void {
  if (!app) return;
  const name = location.hash.replace(/^#\/?/, "") || "workers";
  const page = app.pages[name] ?? app.pages.workers;
  if (app.current === page) return;
  app.current?.hide();
  if (app.current) app.current.root.hidden = true;
  app.current = page;
  page.root.hidden = false;
  page.show();
  document.title = `${page.title} — funkhaus console`;
  for (const a of byId("nav").querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function boot(): Promise<void> {
  window.funkhausConsole = { app: null, charts: new Map(), tableFilledAt: () => null };
  setUnauthorizedHandler(() => {
    if (app) showLogin("Your session ended: log in again.");
  });
  window.addEventListener("hashchange", () => {
    route();
    main().focus();
  });
  byId("logout").addEventListener("click", async () => {
    try {
      await api("POST", "/api/logout");
    } catch {
      // logged out either way
    }
    setCsrf("");
    showLogin();
  });
  try {
    const s = await api<{ csrf?: string }>("GET", "/api/session");
    setCsrf(s.csrf ?? "");
    showApp();
  } catch (e) {
    showLogin(e instanceof ApiError && e.status === 401 ? "" : `The console cannot be reached: ${errorText(e)}`);
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => void boot());
else void boot();
