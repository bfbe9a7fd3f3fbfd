// The page's one way to the daemon: fetch, same origin, with the session's request token.
//
// The session cookie (HttpOnly) is the browser's to keep; the request token that must go
// with it in X-CSRF-Token lives in this origin's localStorage (127.0.0.1 and the port).

const TOKEN_KEY = "intentcast-request-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onLoggedOut = () => {};

/** Called when the daemon no longer knows this page's session (a restart, a log-out). */
export function whenLoggedOut(callback) {
  onLoggedOut = callback;
}

export function token() {
  return localStorage.getItem(TOKEN_KEY) ?? "";
}

/** A request to the API; the JSON answer, or an ApiError with the daemon's one line. */
export async function api(method, path, body) {
  const headers = {"X-CSRF-Token": token(), Accept: "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let answer;
  try {
    answer = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "Your agent is not answering. Is `intentcast daemon` running?");
  }
  let data = null;
  try {
    data = await answer.json();
  } catch {
    data = null;
  }
  if (answer.status === 401 || (answer.status === 403 && /request token/.test(data?.error ?? ""))) {
    onLoggedOut();
  }
  if (!answer.ok) throw new ApiError(answer.status, data?.error ?? `HTTP ${answer.status}`);
  return data;
}

/** Trade a login link's one-time code for a session (the daemon sets the cookie). */
export async function logIn(code) {
  const answer = await fetch("/v1/session", {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({code}),
  });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new ApiError(answer.status, data.error ?? `HTTP ${answer.status}`);
  localStorage.setItem(TOKEN_KEY, data.token);
}

export async function logOut() {
  try {
    await api("DELETE", "/v1/session");
  } finally {
    localStorage.removeItem(TOKEN_KEY);
  }
}
