// GameStream pairing: the requests waiting for a PIN, PIN entry, the paired clients and unpair.
// Lists are fetched when the page is shown, every 2 s while it is, and at once when the pushed
// status says the number of waiting requests or paired clients changed.

import { api, errorText } from "./api";
import { clear, el, fmtTime, message } from "./dom";
import type { Page } from "./page";
import type { StatusStream } from "./status";

interface Pending {
  address?: string;
  name?: string;
  age_s?: number;
  waiting_for_pin?: boolean;
}

interface Client {
  id: string;
  name?: string;
  paired_at?: number;
  last_seen?: number;
}

export class PairingPage implements Page {
  readonly title = "Pairing";
  readonly root: HTMLElement;
  private readonly pendingBody = el("tbody", { id: "pending-body" });
  private readonly pendingEmpty = el("p", { id: "pending-empty" }, "No pairing request waits. Start pairing on the Moonlight client.");
  private readonly clientsBody = el("tbody", { id: "clients-body" });
  private readonly clientsEmpty = el("p", { id: "clients-empty" }, "No client is paired.");
  private readonly pin = el("input", {
    id: "pin",
    name: "pin",
    inputmode: "numeric",
    autocomplete: "off",
    pattern: "[0-9]{4}",
    maxlength: 4,
    required: true,
    "aria-describedby": "pin-help",
  });
  private readonly address = el("select", { id: "pin-address", name: "address" });
  private readonly pairMsg = el("p", { class: "msg", id: "pair-msg" });
  private readonly clientsMsg = el("p", { class: "msg", id: "clients-msg" });
  private timer = 0;
  private visible = false;
  private lastCounts = "";

  constructor(stream: StatusStream) {
    const form = el(
      "form",
      { id: "pair-form", class: "inline" },
      el("label", { for: "pin" }, "PIN"),
      this.pin,
      el("label", { for: "pin-address" }, "Client"),
      this.address,
      el("button", { type: "submit" }, "Pair"),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.pair();
    });
    this.root = el(
      "section",
      { id: "page-pairing", "aria-labelledby": "pairing-h" },
      el("h2", { id: "pairing-h" }, "GameStream pairing"),
      el("h3", {}, "Waiting for a PIN"),
      el("table", { id: "pending", class: "grid" }, el("thead", {}, el("tr", {}, ...["Client", "Address", "Waiting", "State"].map((t) => el("th", { scope: "col" }, t)))), this.pendingBody),
      this.pendingEmpty,
      el("p", { id: "pin-help", class: "help" }, "Enter the 4-digit PIN the Moonlight client shows."),
      form,
      this.pairMsg,
      el("h3", {}, "Paired clients"),
      el("table", { id: "clients", class: "grid" }, el("thead", {}, el("tr", {}, ...["Name", "Paired", "Last seen", "Id", ""].map((t) => el("th", { scope: "col" }, t)))), this.clientsBody),
      this.clientsEmpty,
      this.clientsMsg,
    );
    stream.subscribe((s) => {
      const g = s.gamestream;
      const counts = g ? `${g.pending_pairings ?? 0}/${g.paired_clients ?? 0}` : "";
      if (counts !== this.lastCounts) {
        this.lastCounts = counts;
        if (this.visible) void this.refresh();
      }
    });
  }

  show(): void {
    this.visible = true;
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), 2000);
  }

  hide(): void {
    this.visible = false;
    window.clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    await Promise.all([this.refreshPending(), this.refreshClients()]);
  }

  private async refreshPending(): Promise<void> {
    let pending: Pending[];
    try {
      pending = (await api<{ pending?: Pending[] }>("GET", "/api/pairing")).pending ?? [];
    } catch (e) {
      message(this.pairMsg, `Cannot list pairing requests: ${errorText(e)}`, true);
      return;
    }
    clear(this.pendingBody);
    for (const p of pending)
      this.pendingBody.append(
        el(
          "tr",
          { "data-address": p.address ?? "" },
          el("th", { scope: "row" }, p.name ?? "?"),
          el("td", {}, p.address ?? "?"),
          el("td", {}, `${p.age_s ?? 0} s`),
          el("td", {}, p.waiting_for_pin ? "waiting for the PIN" : "pairing"),
        ),
      );
    this.pendingEmpty.hidden = pending.length > 0;
    // The address choice, kept when it is still there.
    const chosen = this.address.value;
    const addresses = [...new Set(pending.map((p) => p.address).filter((a): a is string => !!a))];
    const want = addresses.length > 0 ? addresses : [""];
    const have = [...this.address.options].map((o) => o.value);
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      clear(this.address);
      if (addresses.length === 0) this.address.append(el("option", { value: "" }, "none waiting"));
      for (const a of addresses) this.address.append(el("option", { value: a }, a));
      if (addresses.includes(chosen)) this.address.value = chosen;
    }
  }

  private async refreshClients(): Promise<void> {
    let clients: Client[];
    try {
      clients = (await api<{ clients?: Client[] }>("GET", "/api/clients")).clients ?? [];
    } catch (e) {
      message(this.clientsMsg, `Cannot list clients: ${errorText(e)}`, true);
      return;
    }
    // Rebuilding would steal focus from an Unpair button: only when the list changed.
    const key = JSON.stringify(clients.map((c) => [c.id, c.name, c.last_seen]));
    if (this.clientsBody.dataset.key === key) return;
    this.clientsBody.dataset.key = key;
    clear(this.clientsBody);
    for (const c of clients)
      this.clientsBody.append(
        el(
          "tr",
          { "data-client": c.id },
          el("th", { scope: "row" }, c.name ?? "?"),
          el("td", {}, fmtTime(typeof c.paired_at === "number" ? c.paired_at * 1000 : undefined)),
          el("td", {}, fmtTime(typeof c.last_seen === "number" ? c.last_seen * 1000 : undefined)),
          el("td", { class: "id" }, `${c.id.slice(0, 16)}…`),
          el("td", {}, el("button", { type: "button", class: "unpair", "aria-label": `Unpair ${c.name ?? c.id}`, onclick: () => void this.unpair(c) }, "Unpair")),
        ),
      );
    this.clientsEmpty.hidden = clients.length > 0;
  }

  private async pair(): Promise<void> {
    const pin = this.pin.value.trim();
    if (!/^[0-9]{4}$/.test(pin)) {
      message(this.pairMsg, "The PIN is 4 digits.", true);
      this.pin.focus();
      return;
    }
    const body: Record<string, string> = { pin };
    if (this.address.value) body.address = this.address.value;
    try {
      const r = await api<{ address?: string }>("POST", "/api/pair", body);
      message(this.pairMsg, `PIN accepted: pairing ${r.address ?? "the client"}`, false);
      this.pin.value = "";
    } catch (e) {
      message(this.pairMsg, `Pairing failed: ${errorText(e)}`, true);
    }
    void this.refresh();
  }

  private async unpair(c: Client): Promise<void> {
    if (!window.confirm(`Unpair ${c.name ?? c.id}? It is refused at once.`)) return;
    try {
      await api("POST", "/api/unpair", { id: c.id });
      message(this.clientsMsg, `${c.name ?? c.id} unpaired`, false);
    } catch (e) {
      message(this.clientsMsg, `Unpair failed: ${errorText(e)}`, true);
    }
    void this.refresh();
  }
}
