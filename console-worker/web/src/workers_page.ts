// The live worker table (pushed by StatusStream), restart/stop/start per worker, and the
// virtual monitor's mode. Rows are kept and updated in place, so keyboard focus on a button
// survives the updates that arrive several times a second.

import { api, errorText } from "./api";
import { el, fmtDuration, fmtNumber, message, placeAfter, setText } from "./dom";
import type { Page } from "./page";
import type { Status, StatusStream, Worker } from "./status";

interface Row {
  tr: HTMLTableRowElement;
  cells: Record<string, HTMLTableCellElement>;
  buttons: Record<"restart" | "stop" | "start", HTMLButtonElement>;
}

const columns: [key: string, title: string][] = [
  ["name", "Worker"],
  ["scope", "Where"],
  ["state", "State"],
  ["pid", "PID"],
  ["uptime", "Up"],
  ["fps", "fps"],
  ["stage", "Stage p50 / p99 ms"],
  ["restarts", "Restarts"],
  ["last_exit", "Last exit"],
];

function describeExit(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "string" || typeof v === "number") return String(v);
  if (typeof v === "object")
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k} ${String(x)}`)
      .join(", ");
  return "–";
}

export class WorkersPage implements Page {
  readonly title = "Workers";
  readonly root: HTMLElement;
  private readonly summary = el("dl", { class: "summary", id: "summary" });
  private readonly tbody = el("tbody", { id: "workers-body" });
  private readonly actionMsg = el("p", { class: "msg", id: "worker-msg" });
  private readonly rows = new Map<string, Row>();
  private readonly modeCurrent = el("p", { id: "mode-current" });
  private readonly modeMsg = el("p", { class: "msg", id: "mode-msg" });
  private readonly modeForm: HTMLFormElement;
  private modePrefilled = false;
  // When the table was first filled (ms since navigation start): the page load figure.
  filledAt: number | null = null;

  constructor(stream: StatusStream) {
    const header = el("tr", {}, ...columns.map(([, t]) => el("th", { scope: "col" }, t)), el("th", { scope: "col" }, "Actions"));
    const width = el("input", { id: "mode-width", name: "width", type: "number", min: 320, max: 7680, required: true });
    const height = el("input", { id: "mode-height", name: "height", type: "number", min: 200, max: 4320, required: true });
    const refresh = el("input", { id: "mode-refresh", name: "refresh_hz", type: "number", min: 1, max: 500, required: true });
    this.modeForm = el(
      "form",
      { id: "mode-form", class: "inline" },
      el("label", { for: "mode-width" }, "Width"),
      width,
      el("label", { for: "mode-height" }, "Height"),
      height,
      el("label", { for: "mode-refresh" }, "Refresh (Hz)"),
      refresh,
      el("button", { type: "submit" }, "Set mode"),
    );
    this.modeForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.setMode(Number(width.value), Number(height.value), Number(refresh.value));
    });
    this.root = el(
      "section",
      { id: "page-workers", "aria-labelledby": "workers-h" },
      el("h2", { id: "workers-h" }, "Workers"),
      this.summary,
      el("table", { id: "workers", class: "grid" }, el("caption", {}, "Live, pushed by the host"), el("thead", {}, header), this.tbody),
      this.actionMsg,
      el("h2", { id: "mode-h" }, "Virtual monitor"),
      this.modeCurrent,
      this.modeForm,
      this.modeMsg,
    );
    stream.subscribe((s) => this.update(s));
  }

  show(): void {}
  hide(): void {}

  private update(s: Status): void {
    this.updateSummary(s);
    const seen = new Set<string>();
    let previous: Element | null = null;
    const put = (w: Worker, scope: string) => {
      const key = `${scope}/${w.name}`;
      seen.add(key);
      let row = this.rows.get(key);
      if (!row) {
        row = this.makeRow(w.name, scope);
        this.rows.set(key, row);
      }
      placeAfter(this.tbody, previous, row.tr);
      previous = row.tr;
      this.fill(row, w, scope);
    };
    for (const w of s.host_workers) put(w, "host");
    for (const session of s.sessions) for (const w of session.workers) put(w, `session ${session.id}`);
    for (const [key, row] of this.rows)
      if (!seen.has(key)) {
        row.tr.remove();
        this.rows.delete(key);
      }
    if (this.filledAt === null && this.rows.size > 0) this.filledAt = performance.now();
    this.updateMode(s);
  }

  private makeRow(name: string, scope: string): Row {
    const cells: Record<string, HTMLTableCellElement> = {};
    const tr = el("tr", { "data-worker": name, "data-scope": scope === "host" ? "host" : "session" });
    for (const [key] of columns) {
      const td = key === "name" ? (el("th", { scope: "row" }) as unknown as HTMLTableCellElement) : el("td");
      td.className = key;
      cells[key] = td;
      tr.appendChild(td);
    }
    const mk = (action: "restart" | "stop" | "start", label: string) =>
      el("button", { type: "button", class: `act ${action}`, "data-action": action, "aria-label": `${label} ${name}`, onclick: () => void this.act(name, action) }, label);
    const buttons = { restart: mk("restart", "Restart"), stop: mk("stop", "Stop"), start: mk("start", "Start") };
    tr.appendChild(el("td", { class: "actions" }, buttons.restart, buttons.stop, buttons.start));
    return { tr, cells, buttons };
  }

  private fill(row: Row, w: Worker, scope: string): void {
    const c = row.cells;
    setText(c.name, w.name);
    setText(c.scope, scope);
    const state = w.state ?? "–";
    setText(c.state, w.failure ? `${state}: ${w.failure}` : state);
    c.state.dataset.state = state;
    setText(c.pid, typeof w.pid === "number" && w.pid > 0 ? String(w.pid) : "–");
    setText(c.uptime, fmtDuration(w.uptime_s));
    setText(c.fps, fmtNumber(w.fps));
    setText(c.stage, `${fmtNumber(w.stage_p50_ms, 2)} / ${fmtNumber(w.stage_p99_ms, 2)}`);
    setText(c.restarts, String(w.restarts ?? "–"));
    setText(c.last_exit, describeExit(w.last_exit));
    const running = state === "running" || state === "starting";
    row.buttons.start.disabled = running;
    row.buttons.stop.disabled = state === "stopped";
  }

  private updateSummary(s: Status): void {
    const items: [string, string][] = [["funkhausd", `pid ${s.pid ?? "–"}, ${s.mode ?? "?"} mode`]];
    for (const session of s.sessions) {
      let text = `${session.id}: ${session.user ?? "?"} (${session.type ?? "?"}, ${session.class ?? "?"})`;
      const total = session.latency?.total;
      if (total && typeof total.p50_ms === "number") text += `, total latency p50 ${fmtNumber(total.p50_ms, 2)} ms, p99 ${fmtNumber(total.p99_ms, 2)} ms`;
      items.push(["Session", text]);
    }
    if (s.net && s.net.rtsp_port) items.push(["RTSP", `port ${s.net.rtsp_port}${s.net.path ?? ""}`]);
    if (s.gamestream) {
      const g = s.gamestream;
      items.push(["GameStream", `${g.name ?? "?"} on HTTP ${g.http_port ?? "–"} / HTTPS ${g.https_port ?? "–"}, ${g.paired_clients ?? 0} paired, ${g.pending_pairings ?? 0} waiting`]);
    }
    // Rebuilt only when the text changes (it rarely does).
    const key = JSON.stringify(items);
    if (this.summary.dataset.key === key) return;
    this.summary.dataset.key = key;
    while (this.summary.firstChild) this.summary.removeChild(this.summary.firstChild);
    for (const [k, v] of items) this.summary.append(el("dt", {}, k), el("dd", {}, v));
  }

  private updateMode(s: Status): void {
    const session = s.sessions[0];
    const m = session?.monitors?.[0];
    if (!session || !session.monitors) {
      setText(this.modeCurrent, "No virtual monitor in this session (vdisplay is not running).");
      return;
    }
    if (!m) {
      setText(this.modeCurrent, session.vdisplay_error ? `No virtual monitor: ${session.vdisplay_error}` : "The virtual monitor is starting.");
      return;
    }
    setText(this.modeCurrent, `Display ${m.display ?? "?"}: ${m.width}×${m.height} at ${fmtNumber(m.refresh_hz, 0)} Hz`);
    if (!this.modePrefilled) {
      this.modePrefilled = true;
      const f = this.modeForm.elements;
      (f.namedItem("width") as HTMLInputElement).value = String(m.width ?? "");
      (f.namedItem("height") as HTMLInputElement).value = String(m.height ?? "");
      (f.namedItem("refresh_hz") as HTMLInputElement).value = String(Math.round(m.refresh_hz ?? 60));
    }
  }

  private async act(name: string, action: "restart" | "stop" | "start"): Promise<void> {
    try {
      await api("POST", `/api/workers/${encodeURIComponent(name)}/${action}`);
      message(this.actionMsg, `${name}: ${action} requested`, false);
    } catch (e) {
      message(this.actionMsg, `${name}: ${action} failed: ${errorText(e)}`, true);
    }
  }

  private async setMode(width: number, height: number, refresh_hz: number): Promise<void> {
    try {
      const r = await api<{ width?: number; height?: number; display?: string }>("POST", "/api/mode", { width, height, refresh_hz });
      message(this.modeMsg, `Mode set: ${r.width ?? width}×${r.height ?? height} on ${r.display ?? "the virtual monitor"}`, false);
    } catch (e) {
      message(this.modeMsg, `Mode change failed: ${errorText(e)}`, true);
    }
  }
}
