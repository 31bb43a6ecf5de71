// The build log of a datalab environment on its detail page: the whole log when the build is
// over; while it runs, each line as it comes (server-sent events from the API), then the status.
"use strict";

(function () {
  const log = document.getElementById("build-log");
  if (!log) return;
  const url = log.dataset.logUrl;
  const status = document.getElementById("build-status");
  const append = (text) => {
    log.textContent += text + "\n";
    log.scrollTop = log.scrollHeight;
  };
  if (log.dataset.live !== "true") {
    fetch(url, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : ""))
      .then((text) => { log.textContent = text || "(no log)"; });
    return;
  }
  const events = new EventSource(`${url}?follow=true`, { withCredentials: true });
  if (status) status.textContent = "building";
  events.onmessage = (event) => append(event.data);
  events.addEventListener("end", (event) => {
    if (status) status.textContent = event.data;
    events.close();
  });
  events.onerror = () => events.close();
})();
