// funkhausd's log lines of the last minutes (GET /api/logs?seconds=N), newest last, filtered
// by level; refreshed every 2 s while "Follow" is ticked.

import { api, errorText } from "./api";
import { clear, el, message } from "./dom";
import type { Page } from "./page";

interface Line {
  unix_ms?: number;
  level?: string;
  text?: string;
}

const levels = ["trace", "debug", "info", "warning", "error", "critical"];

function rank(level: string | undefined): number {
  const l = (level ?? "info").toLowerCase();
  const i = levels.indexOf(l === "warn" ? "warning" : l === "err" ? "error" : l);
  return i < 0 ? 2 : i;
}

export class LogsPage implements Page {
  readonly title = "Logs";
  readonly root: HTMLElement;
  private readonly seconds = el("select", { id: "logs-seconds" });
  private readonly level = el("select", { id: "logs-level" });
  private readonly follow = el("input", { id: "logs-follow", type: "checkbox" });
  private readonly body = el("tbody", { id: "logs-body" });
  private readonly msg = el("p", { class: "msg", id: "logs-msg" });
  private timer = 0;

  constructor() {
    for (const [v, t] of [
      [60, "1 minute"],
      [300, "5 minutes"],
      [900, "15 minutes"],
      [3600, "1 hour"],
    ] as const)
      this.seconds.append(el("option", { value: v }, t));
    this.seconds.value = "300";
    for (const [v, t] of [
      ["debug", "everything"],
      ["info", "info and worse"],
      ["warning", "warnings and errors"],
      ["error", "errors"],
    ])
      this.level.append(el("option", { value: v }, t));
    this.level.value = "info";
    this.follow.checked = true;
    const refreshButton = el("button", { type: "button", id: "logs-refresh" }, "Refresh");
    refreshButton.addEventListener("click", () => void this.refresh());
    this.seconds.addEventListener("change", () => void this.refresh());
    this.level.addEventListener("change", () => void this.refresh());
    this.follow.addEventListener("change", () => this.arm());
    this.root = el(
      "section",
      { id: "page-logs", "aria-labelledby": "logs-h" },
      el("h2", { id: "logs-h" }, "Logs"),
      el(
        "form",
        { class: "inline", id: "logs-form" },
        el("label", { for: "logs-seconds" }, "Last"),
        this.seconds,
        el("label", { for: "logs-level" }, "Show"),
        this.level,
        this.follow,
        el("label", { for: "logs-follow" }, "Follow"),
        refreshButton,
      ),
      this.msg,
      el("table", { id: "logs", class: "grid logs" }, el("thead", {}, el("tr", {}, ...["Time", "Level", "Message"].map((t) => el("th", { scope: "col" }, t)))), this.body),
    );
  }

  show(): void {
    void this.refresh();
    this.arm();
  }

  hide(): void {
    window.clearInterval(this.timer);
    this.timer = 0;
  }

  private arm(): void {
    window.clearInterval(this.timer);
    this.timer = this.follow.checked ? window.setInterval(() => void this.refresh(), 2000) : 0;
  }

  private async refresh(): Promise<void> {
    let lines: Line[];
    let leftOut = 0;
    try {
      const reply = await api<{ lines?: Line[]; left_out?: number }>("GET", `/api/logs?seconds=${encodeURIComponent(this.seconds.value)}`);
      lines = reply.lines ?? [];
      leftOut = reply.left_out ?? 0;
    } catch (e) {
      message(this.msg, `Cannot read the logs: ${errorText(e)}`, true);
      return;
    }
    const min = rank(this.level.value);
    const shown = lines.filter((l) => rank(l.level) >= min);
    const key = JSON.stringify([shown.length, shown[shown.length - 1]]);
    message(this.msg, `${shown.length} of ${lines.length} lines` + (leftOut > 0 ? ` (${leftOut} older lines left out: one reply holds the newest only)` : ""), false);
    if (this.body.dataset.key === key) return;
    this.body.dataset.key = key;
    clear(this.body);
    for (const l of shown) {
      const level = (l.level ?? "info").toLowerCase();
      this.body.append(
        el(
          "tr",
          { class: `level-${rank(level) >= 4 ? "error" : rank(level) === 3 ? "warning" : "info"}` },
          el("td", { class: "time" }, typeof l.unix_ms === "number" ? new Date(l.unix_ms).toLocaleTimeString() : "–"),
          el("td", { class: "level" }, level),
          el("td", { class: "text" }, l.text ?? ""),
        ),
      );
    }
  }
}
