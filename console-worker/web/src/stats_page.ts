// Stats captures: start (with a name), stop, list, delete, and graphs of every series over time
// (uPlot, seconds since the capture's start on x). Ticking several captures overlays them, one
// line per capture on each series' chart, to compare sessions.

import uPlot from "uplot";
import { api, errorText } from "./api";
import { clear, el, fmtDuration, fmtTime, message, placeAfter, setText } from "./dom";
import type { Page } from "./page";

interface CaptureInfo {
  id: string;
  name?: string;
  started_unix_ms?: number;
  stopped_unix_ms?: number | null;
  samples?: number;
  truncated?: boolean;
  complete?: boolean;
}

export interface Capture extends CaptureInfo {
  interval_ms?: number;
  t: number[];
  series: Record<string, (number | null)[]>;
}

const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

// Units for the y axis, from the metric's name.
function unitOf(series: string): string {
  if (series.endsWith("_ms")) return "ms";
  if (series.endsWith("_kbps")) return "kbit/s";
  if (series.endsWith("_percent")) return "%";
  if (series.endsWith("_mb")) return "MB";
  if (series.endsWith(".fps")) return "frames/s";
  return "";
}

// Series with at least one value in any of `captures`, in a stable order (by worker, then metric).
export function seriesNames(captures: Capture[]): string[] {
  const names = new Set<string>();
  for (const c of captures)
    for (const [name, values] of Object.entries(c.series ?? {}))
      if (Array.isArray(values) && values.some((v) => typeof v === "number")) names.add(name);
  return [...names].sort();
}

// One aligned uPlot table for `series` across `captures`: x is the union of the captures' t
// (seconds since each one's start), a capture without a sample at some x has undefined there
// (spanned), an explicit null (absent counter) stays a gap.
export function alignedData(series: string, captures: Capture[]): uPlot.AlignedData {
  const tables: uPlot.AlignedData[] = captures.map((c) => {
    const ys = c.series?.[series] ?? [];
    const t = Array.isArray(c.t) ? c.t : [];
    return [t, t.map((_, i) => (typeof ys[i] === "number" ? ys[i] : null))] as uPlot.AlignedData;
  });
  return uPlot.join(tables);
}

interface CaptureRow {
  tr: HTMLTableRowElement;
  cells: Record<"name" | "started" | "length" | "samples" | "notes", HTMLTableCellElement>;
  remove: HTMLButtonElement;
}

export class StatsPage implements Page {
  readonly title = "Stats";
  readonly root: HTMLElement;
  private readonly nameInput = el("input", { id: "capture-name", name: "name", maxlength: 40, placeholder: "e.g. cyberpunk-1080p" });
  private readonly startButton = el("button", { type: "submit", id: "capture-start" }, "Start capture");
  private readonly stopButton = el("button", { type: "button", id: "capture-stop" }, "Stop capture");
  private readonly armedLine = el("p", { id: "capture-armed" });
  private readonly controlMsg = el("p", { class: "msg", id: "capture-msg" });
  private readonly listBody = el("tbody", { id: "captures-body" });
  private readonly listEmpty = el("p", { id: "captures-empty" }, "No capture yet.");
  private readonly filter = el("input", { id: "series-filter", type: "search", placeholder: "e.g. encode or p99" });
  private readonly chartsMsg = el("p", { class: "msg", id: "charts-msg" });
  private readonly charts = el("div", { id: "charts", class: "charts" });
  private readonly selected = new Set<string>();
  private readonly rows = new Map<string, CaptureRow>();
  private readonly loaded = new Map<string, Capture>();
  // The live chart per series name (read by the browser tests through window.funkhausConsole).
  readonly plots = new Map<string, uPlot>();
  private armed: string | null = null;
  private timer = 0;
  private drawSeq = 0;

  constructor() {
    const form = el("form", { id: "capture-form", class: "inline" }, el("label", { for: "capture-name" }, "Name"), this.nameInput, this.startButton, this.stopButton);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.start();
    });
    this.stopButton.addEventListener("click", () => void this.stop());
    this.filter.addEventListener("input", () => this.render());
    window.addEventListener("resize", () => this.resize());
    this.root = el(
      "section",
      { id: "page-stats", "aria-labelledby": "stats-h" },
      el("h2", { id: "stats-h" }, "Stats captures"),
      el("p", { class: "help" }, "While a capture runs, the host records every worker's counters once a second. Tick captures to see their graphs; tick several to overlay them."),
      form,
      this.armedLine,
      this.controlMsg,
      el(
        "table",
        { id: "captures", class: "grid" },
        el("thead", {}, el("tr", {}, ...["Graph", "Capture", "Name", "Started", "Length", "Samples", "Notes", ""].map((t) => el("th", { scope: "col" }, t)))),
        this.listBody,
      ),
      this.listEmpty,
      el("h3", { id: "charts-h" }, "Graphs"),
      el("p", { class: "inline" }, el("label", { for: "series-filter" }, "Show series containing"), this.filter),
      this.chartsMsg,
      this.charts,
    );
  }

  show(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), 2000);
  }

  hide(): void {
    window.clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    let list: { armed?: string | null; captures?: CaptureInfo[] };
    try {
      list = await api("GET", "/api/stats");
    } catch (e) {
      message(this.controlMsg, `Cannot list captures: ${errorText(e)}`, true);
      return;
    }
    this.armed = typeof list.armed === "string" ? list.armed : null;
    this.stopButton.disabled = this.armed === null;
    this.startButton.disabled = this.armed !== null;
    this.armedLine.textContent = this.armed ? `Recording: ${this.armed}` : "Not recording.";
    const captures = (list.captures ?? []).slice().sort((a, b) => (b.started_unix_ms ?? 0) - (a.started_unix_ms ?? 0));
    this.renderList(captures);
    // An armed capture grows: graphs that show it are fetched again.
    if (this.armed && this.selected.has(this.armed)) {
      this.loaded.delete(this.armed);
      void this.draw();
    }
  }

  // Rows are kept per capture and updated in place: a ticked box or a focused button survives
  // the refreshes.
  private renderList(captures: CaptureInfo[]): void {
    const ids = new Set(captures.map((c) => c.id));
    for (const id of [...this.selected]) if (!ids.has(id)) this.selected.delete(id);
    for (const [id, row] of this.rows)
      if (!ids.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    let previous: Element | null = null;
    for (const c of captures) {
      let row = this.rows.get(c.id);
      if (!row) {
        row = this.makeRow(c.id);
        this.rows.set(c.id, row);
      }
      placeAfter(this.listBody, previous, row.tr); // newest first
      previous = row.tr;
      const stopped = typeof c.stopped_unix_ms === "number" ? c.stopped_unix_ms : null;
      const length = c.started_unix_ms ? ((stopped ?? Date.now()) - c.started_unix_ms) / 1000 : undefined;
      const notes = [
        c.id === this.armed ? "recording" : "",
        c.truncated ? "truncated (3 h)" : "",
        c.complete === false && c.id !== this.armed ? "incomplete (host stopped while recording)" : "",
      ]
        .filter(Boolean)
        .join(", ");
      setText(row.cells.name, c.name ?? "");
      setText(row.cells.started, fmtTime(c.started_unix_ms));
      setText(row.cells.length, fmtDuration(length));
      setText(row.cells.samples, String(c.samples ?? 0));
      setText(row.cells.notes, notes);
      row.remove.disabled = c.id === this.armed;
    }
    this.listEmpty.hidden = captures.length > 0;
  }

  private makeRow(id: string): CaptureRow {
    const box = el("input", { type: "checkbox", class: "pick", id: `pick-${id}`, "aria-label": `Graph ${id}` });
    box.checked = this.selected.has(id);
    box.addEventListener("change", () => {
      if (box.checked) this.selected.add(id);
      else this.selected.delete(id);
      void this.draw();
    });
    const cells = {
      name: el("td"),
      started: el("td"),
      length: el("td", { class: "uptime" }),
      samples: el("td", { class: "samples" }),
      notes: el("td"),
    };
    const remove = el("button", { type: "button", class: "delete", "aria-label": `Delete ${id}`, onclick: () => void this.remove(id) }, "Delete");
    const tr = el(
      "tr",
      { "data-capture": id },
      el("td", {}, box),
      el("th", { scope: "row" }, el("label", { for: `pick-${id}` }, id)),
      cells.name,
      cells.started,
      cells.length,
      cells.samples,
      cells.notes,
      el("td", { class: "actions" }, el("a", { href: `/api/stats/${encodeURIComponent(id)}`, download: `${id}.json` }, "JSON"), remove),
    );
    return { tr, cells, remove };
  }

  private async start(): Promise<void> {
    const name = this.nameInput.value.trim();
    try {
      const r = await api<{ id?: string }>("POST", "/api/stats/start", name ? { name } : {});
      message(this.controlMsg, `Capture ${r.id ?? ""} started`, false);
    } catch (e) {
      message(this.controlMsg, `Cannot start: ${errorText(e)}`, true);
    }
    await this.refresh();
  }

  private async stop(): Promise<void> {
    try {
      const r = await api<{ id?: string; samples?: number }>("POST", "/api/stats/stop");
      message(this.controlMsg, `Capture ${r.id ?? ""} stopped with ${r.samples ?? 0} samples`, false);
      if (r.id) this.loaded.delete(r.id);
    } catch (e) {
      message(this.controlMsg, `Cannot stop: ${errorText(e)}`, true);
    }
    await this.refresh();
    void this.draw();
  }

  private async remove(id: string): Promise<void> {
    if (!window.confirm(`Delete capture ${id}?`)) return;
    try {
      await api("DELETE", `/api/stats/${encodeURIComponent(id)}`);
      this.selected.delete(id);
      this.loaded.delete(id);
      message(this.controlMsg, `${id} deleted`, false);
    } catch (e) {
      message(this.controlMsg, `Cannot delete ${id}: ${errorText(e)}`, true);
    }
    await this.refresh();
    void this.draw();
  }

  // Fetches the ticked captures not loaded yet, then renders.
  private async draw(): Promise<void> {
    const seq = ++this.drawSeq;
    const ids = [...this.selected];
    try {
      for (const id of ids) {
        if (this.loaded.has(id)) continue;
        const r = await api<{ capture?: Capture } & Partial<Capture>>("GET", `/api/stats/${encodeURIComponent(id)}`);
        // Accepts the capture itself or funkhausd's {"ok":true,"capture":{...}} around it.
        const c = (r.capture ?? r) as Capture;
        this.loaded.set(id, c);
      }
    } catch (e) {
      message(this.chartsMsg, `Cannot load a capture: ${errorText(e)}`, true);
      return;
    }
    if (seq !== this.drawSeq) return; // a newer selection is being drawn
    this.render();
  }

  private render(): void {
    for (const p of this.plots.values()) p.destroy();
    this.plots.clear();
    clear(this.charts);
    const captures = [...this.selected].map((id) => this.loaded.get(id)).filter((c): c is Capture => !!c);
    if (captures.length === 0) {
      message(this.chartsMsg, "Tick a capture above to see its graphs.", false);
      return;
    }
    const needle = this.filter.value.trim().toLowerCase();
    const names = seriesNames(captures).filter((n) => !needle || n.toLowerCase().includes(needle));
    message(this.chartsMsg, `${names.length} series of ${captures.map((c) => c.id).join(", ")}`, false);
    const width = this.chartWidth();
    for (const name of names) {
      const box = el("figure", { class: "chart", "data-series": name }, el("figcaption", {}, name));
      this.charts.append(box);
      const unit = unitOf(name);
      const opts: uPlot.Options = {
        width,
        height: 200,
        scales: { x: { time: false } },
        axes: [
          { label: "seconds since start", stroke: "currentColor", grid: { stroke: "rgba(128,128,128,0.2)" } },
          { label: unit, stroke: "currentColor", grid: { stroke: "rgba(128,128,128,0.2)" }, size: 60 },
        ],
        series: [
          { label: "t (s)" },
          ...captures.map((c, i) => ({
            label: c.name ? `${c.id} (${c.name})` : c.id,
            stroke: palette[i % palette.length],
            width: 1.5,
            points: { show: false },
            spanGaps: false,
          })),
        ],
      };
      this.plots.set(name, new uPlot(opts, alignedData(name, captures), box));
    }
  }

  private chartWidth(): number {
    return Math.max(320, Math.min(1100, this.charts.clientWidth || this.root.clientWidth || 800));
  }

  private resize(): void {
    const width = this.chartWidth();
    for (const p of this.plots.values()) p.setSize({ width, height: 200 });
  }
}
