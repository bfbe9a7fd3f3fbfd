// The live event stream (GET /v1/events, server-sent events), read with fetch.
//
// Not EventSource: EventSource cannot send the request token header, and a cookie alone
// opens nothing here. This reader does what EventSource does for us: it parses the
// stream, remembers the last event id and, when the stream breaks or the daemon stops,
// reconnects with Last-Event-ID so nothing is lost in between.

import {token} from "./api.js";

function parse(block) {
  const event = {id: null, kind: "message", data: ""};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "id") event.id = value;
    else if (name === "event") event.kind = value;
    else if (name === "data") event.data += (event.data ? "\n" : "") + value;
    else if (name === "retry" && /^\d+$/.test(value)) event.retry = Number(value);
  }
  return event;
}

/**
 * Follow the stream until `signal` aborts: `onEvent(kind, data)` for each event (`hello` on
 * every (re)connection, then the agent's events), `onStatus(state)` with "live",
 * "reconnecting", "stopped" (the daemon is stopping) or "logged-out".
 */
export async function follow({onEvent, onStatus, signal}) {
  let last = null;
  let retry = 2000;
  while (!signal.aborted) {
    try {
      const headers = {Accept: "text/event-stream", "X-CSRF-Token": token()};
      if (last) headers["Last-Event-ID"] = last;
      const answer = await fetch(last ? "/v1/events" : "/v1/events?after=now", {
        headers, signal, credentials: "same-origin", cache: "no-store",
      });
      if (answer.status === 401 || answer.status === 403) {
        onStatus("logged-out");
        return;
      }
      if (answer.ok && answer.body) {
        onStatus("live");
        const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const event = parse(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (event.retry) retry = event.retry;
            if (event.id) last = event.id;
            if (!event.data) continue;
            if (event.kind === "closing") onStatus("stopped");
            onEvent(event.kind, JSON.parse(event.data));
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    onStatus("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, retry));
  }
}
