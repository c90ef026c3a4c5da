// The console's HTTP API (console_contract.md): JSON in and out, the session cookie is sent by
// the browser (HttpOnly), the CSRF token from login or /api/session goes in X-CSRF-Token on
// every POST and DELETE.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrf = "";
let onUnauthorized: () => void = () => {};

export function setCsrf(token: string): void {
  csrf = token;
}

// Called when any request answers 401: the session is gone (expired, logged out, or the console
// worker restarted and forgot it).
export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

export type Json = Record<string, unknown>;

export async function api<T = Json>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const init: RequestInit = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (method === "POST") {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let reply: Response;
  try {
    reply = await fetch(path, init);
  } catch {
    throw new ApiError(0, "the console cannot be reached");
  }
  const text = await reply.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  const obj = data !== null && typeof data === "object" ? (data as Json) : null;
  const error = obj && typeof obj.error === "string" ? obj.error : "";
  if (reply.status === 401 && path !== "/api/login" && path !== "/api/session") onUnauthorized();
  if (!reply.ok) throw new ApiError(reply.status, error || `${reply.status} ${reply.statusText}`);
  // funkhausd's replies carry ok:false with an error when a command was refused.
  if (obj && obj.ok === false) throw new ApiError(reply.status, error || "refused");
  return data as T;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
