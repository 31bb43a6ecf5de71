// Datalab sessions in the page. The launch form: choosing another version shows its limits.
// A session's page: while it starts, the progress bar and the list of steps follow the API's
// server-sent events; when it runs, the Open button appears; its log follows as it is written.
// Without this script the pages still work: the forms post and reloading shows the news.
"use strict";

(function () {
  const BADGES = { running: "state-active", failed: "state-rejected", stopped: "state-expired", stopping: "state-expired" };
  const ENDED = ["stopped", "failed"];

  const version = document.getElementById("launch-version");
  if (version && version.dataset.reload) {
    version.addEventListener("change", () => {
      window.location.assign(`${version.dataset.reload}?version=${encodeURIComponent(version.value)}`);
    });
  }

  const stateBadge = document.getElementById("session-state");
  const shownState = () => (stateBadge ? stateBadge.textContent.trim() : "");
  const when = (iso) => (iso ? new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "–");

  function showState(state) {
    if (!stateBadge) return;
    stateBadge.textContent = state;
    stateBadge.className = `badge ${BADGES[state] || "state-submitted"}`;
  }

  // Once running: the Open button, and the times the server set when it started.
  async function nowRunning(sessionUrl) {
    showState("running");
    const open = document.getElementById("session-open");
    if (open) open.hidden = false;
    try {
      const response = await fetch(sessionUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const session = await response.json();
      const started = document.getElementById("session-started");
      const expires = document.getElementById("session-expires");
      if (started) started.textContent = when(session.started_at);
      if (expires) expires.textContent = session.expires_at ? when(session.expires_at) : "never";
    } catch (_) { /* the page still says enough */ }
  }

  const list = document.getElementById("session-events");
  const bar = document.getElementById("session-progress");
  if (list && list.dataset.live === "true") {
    let last = Number(list.dataset.lastId || 0);
    const events = new EventSource(`${list.dataset.eventsUrl}?follow=true`, { withCredentials: true });
    events.addEventListener("progress", (message) => {
      const event = JSON.parse(message.data);
      if (event.id <= last) return;  // already in the page
      last = event.id;
      const item = document.createElement("li");
      const time = document.createElement("time");
      time.dateTime = event.at;
      time.textContent = when(event.at);
      item.append(time, ` · ${event.message}`);
      list.append(item);
      if (bar) {
        bar.value = event.progress;
        bar.textContent = `${event.progress}%`;
      }
      showState(event.state);
    });
    events.addEventListener("end", (message) => {
      events.close();
      const { state } = JSON.parse(message.data);
      if (state === "running") {
        if (bar) bar.value = 100;
        nowRunning(list.dataset.sessionUrl);
      } else {
        window.location.reload();  // ended: the page shows why, and drops the buttons that no longer apply
      }
    });
    events.onerror = () => events.close();
  }

  const log = document.getElementById("session-log");
  if (log) {
    const url = log.dataset.logUrl;
    if (log.dataset.live !== "true") {
      fetch(url, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.text() : ""))
        .then((text) => { log.textContent = text || "(no output)"; });
    } else {
      const follow = new EventSource(`${url}?follow=true`, { withCredentials: true });
      follow.onmessage = (message) => {
        log.textContent += message.data + "\n";
        log.scrollTop = log.scrollHeight;
      };
      follow.addEventListener("end", (message) => {
        follow.close();
        const state = message.data;
        if (ENDED.includes(state) && !ENDED.includes(shownState())) window.location.reload();
      });
      follow.onerror = () => follow.close();
    }
  }
})();
