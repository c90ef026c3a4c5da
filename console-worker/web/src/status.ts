// The live status: one GET /api/status to start with, then server-sent events (/api/events,
// `event: status`; `event: error` while funkhausd does not answer). EventSource reconnects by itself after a network error (the console worker
// was killed and is being restarted); while it does, a banner says so. An HTTP error on the
// stream (401 after the restarted console forgot the session) closes it for good: then the
// session is checked and the stream opened again, or the login form is shown.

import { api, ApiError } from "./api";
import { byId } from "./dom";

export interface Worker {
  name: string;
  state?: string;
  pid?: number | null;
  uptime_s?: number;
  fps?: number;
  latency_p50_ms?: number | null;
  latency_p99_ms?: number | null;
  stage_p50_ms?: number | null;
  stage_p99_ms?: number | null;
  restarts?: number;
  last_exit?: unknown;
  failure?: string;
  restart_in_ms?: number;
  viewers?: number;
  heartbeat_age_ms?: number;
}

export interface Monitor {
  id?: number;
  display?: string;
  width?: number;
  height?: number;
  refresh_hz?: number;
}

export interface Session {
  id: string;
  user?: string;
  uid?: number;
  type?: string;
  class?: string;
  workers: Worker[];
  monitors?: Monitor[];
  vdisplay_error?: string;
  latency?: { total?: { p50_ms?: number | null; p99_ms?: number | null } };
}

export interface Status {
  ok?: boolean;
  mode?: string;
  pid?: number;
  sessions: Session[];
  host_workers: Worker[];
  net?: { rtsp_port?: number; rtp_port?: number; path?: string; kept_viewer_sockets?: number };
  gamestream?: {
    name?: string;
    http_port?: number;
    https_port?: number;
    paired_clients?: number;
    pending_pairings?: number;
    worker_state?: string;
  };
}

type Listener = (s: Status) => void;

export class StatusStream {
  private source: EventSource | null = null;
  private listeners: Listener[] = [];
  private retryTimer = 0;
  private stopped = true;
  last: Status | null = null;
  // Counted for the browser tests and the figures: how many status events arrived.
  events = 0;

  constructor(private readonly onSessionLost: () => void) {}

  subscribe(f: Listener): void {
    this.listeners.push(f);
    if (this.last) f(this.last);
  }

  start(): void {
    this.stopped = false;
    api<Status>("GET", "/api/status").then(
      (s) => this.publish(s),
      () => {},
    );
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
    this.banner(null);
  }

  private open(): void {
    if (this.stopped) return;
    const es = new EventSource("/api/events");
    this.source = es;
    es.addEventListener("open", () => this.banner(null));
    es.addEventListener("status", (ev) => {
      this.banner(null);
      try {
        this.publish(JSON.parse((ev as MessageEvent).data) as Status);
      } catch {
        // a malformed event is dropped; the next one replaces it
      }
    });
    es.addEventListener("error", (ev) => {
      if (this.stopped || this.source !== es) return;
      // The console's own `event: error` {"error"}: funkhausd does not answer it (the stream
      // stays open); the next status event takes the banner away.
      if (ev instanceof MessageEvent && typeof ev.data === "string") {
        let why = "no answer";
        try {
          why = String((JSON.parse(ev.data) as { error?: unknown }).error ?? why);
        } catch {
          // keep the generic text
        }
        this.banner(`funkhausd does not answer the console: ${why}`);
        return;
      }
      if (es.readyState === EventSource.CONNECTING) {
        this.banner("Connection to the console lost — reconnecting…");
        return;
      }
      // CLOSED: the server answered with an error; find out whether the session still holds.
      es.close();
      this.source = null;
      this.banner("Connection to the console lost — reconnecting…");
      this.retryTimer = window.setTimeout(() => this.recheck(), 1000);
    });
  }

  private async recheck(): Promise<void> {
    if (this.stopped) return;
    try {
      await api("GET", "/api/session");
      this.open();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        this.stop();
        this.onSessionLost();
        return;
      }
      this.retryTimer = window.setTimeout(() => this.recheck(), 2000);
    }
  }

  private publish(s: Status): void {
    if (!s || typeof s !== "object") return;
    if (!Array.isArray(s.sessions)) s.sessions = [];
    if (!Array.isArray(s.host_workers)) s.host_workers = [];
    this.last = s;
    this.events++;
    for (const f of this.listeners) f(s);
  }

  private banner(text: string | null): void {
    const b = byId("banner");
    if (text === null) {
      b.hidden = true;
      b.textContent = "";
    } else {
      b.hidden = false;
      if (b.textContent !== text) b.textContent = text;
    }
  }
}
