// A pipeline run's page (templates/pipelines/run.html): while the run is active, its state, steps
// and jobs follow the API (polled every second); when it ends the page reloads once to show its
// outputs and the buttons that apply. The log of the chosen job (or the engine's) follows the
// API's /logs with its offset. Everything the API returns is set as text, never as HTML.
"use strict";

(function () {
  const live = document.getElementById("run-live");
  if (!live) return;
  const ENDED = ["completed", "failed", "stopped"];
  const BADGES = { completed: "state-active", running: "state-submitted", failed: "state-rejected",
                   stopped: "state-expired", stopping: "state-expired" };
  const get = async (url) => {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    return response;
  };
  const cell = (...content) => { const td = document.createElement("td"); td.append(...content); return td; };
  const badge = (state, className) => {
    const span = document.createElement("span");
    span.className = `badge ${className || "state-" + state}`;
    span.textContent = state;
    return span;
  };
  const sizeText = (bytes) => {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit ? `${value.toFixed(1)} ${units[unit]}` : `${value} B`;
  };
  let active = live.dataset.live === "true";

  function showRun(run) {
    const state = document.getElementById("run-state");
    state.textContent = run.state;
    state.className = `badge ${BADGES[run.state] || "state-submitted"}`;
    const reason = document.getElementById("run-reason");
    reason.textContent = run.reason;
    reason.hidden = !run.reason;
    const detail = document.getElementById("run-detail");
    detail.textContent = run.detail;
    detail.hidden = !run.detail;
    const body = document.querySelector("#run-steps tbody");
    const rows = run.steps.map((step) => {
      const row = document.createElement("tr");
      row.dataset.step = step.step;
      const bar = document.createElement("progress");
      bar.max = step.total || 1;
      bar.value = step.done;
      bar.setAttribute("aria-label", `Progress of step ${step.step}`);
      const count = document.createElement("small");
      count.className = "step-count";
      count.textContent = ` ${step.done} / ${step.total} done` + (step.failed ? `, ${step.failed} failed` : "") +
        (step.running ? `, ${step.running} running` : "");
      row.append(cell(step.step), cell(badge(step.state)), cell(bar, count));
      return row;
    });
    if (rows.length) body.replaceChildren(...rows);
  }

  function showJobs(jobs) {
    const body = document.querySelector("#run-jobs tbody");
    if (!jobs.length) return;
    body.replaceChildren(...jobs.map((job) => {
      const row = document.createElement("tr");
      row.dataset.job = job.name;
      const name = cell(job.name);
      if (job.step !== job.name) {
        const step = document.createElement("small");
        step.textContent = `step ${job.step}`;
        name.append(document.createElement("br"), step);
      }
      const outputs = cell();
      for (const [key, items] of Object.entries(job.outputs || {})) {
        for (const item of items) {
          const link = document.createElement("a");
          link.href = live.dataset.filesUrl + item.path.split("/").map(encodeURIComponent).join("/");
          link.setAttribute("download", "");
          link.textContent = item.path.split("/").pop();
          const note = document.createElement("small");
          note.textContent = ` (${key}${typeof item.size === "number" ? ", " + sizeText(item.size) : ""})`;
          outputs.append(link, note, document.createElement("br"));
        }
      }
      const logButton = document.createElement("button");
      logButton.type = "button";
      logButton.className = "small outline log-button";
      logButton.dataset.job = job.name;
      logButton.textContent = "Log";
      logButton.setAttribute("aria-label", `Show the log of ${job.name}`);
      row.append(name, cell(badge(job.state)), cell(job.exit_code === null ? "–" : String(job.exit_code)),
                 cell(job.reason || ""), outputs, cell(logButton));
      return row;
    }));
  }

  async function poll() {
    try {
      const run = await (await get(live.dataset.runUrl)).json();
      showRun(run);
      showJobs(await (await get(live.dataset.jobsUrl)).json());
      if (ENDED.includes(run.state)) {
        active = false;
        window.location.reload();  // the outputs, provenance and the buttons that apply now
        return;
      }
    } catch (_) { /* try again */ }
    setTimeout(poll, 1000);
  }

  // -- the log --------------------------------------------------------------------------------
  const log = document.getElementById("run-log");
  let job = "";
  let offset = 0;
  let generation = 0;

  async function followLog(once = false) {
    const mine = generation;
    for (;;) {
      const params = new URLSearchParams({ offset: String(offset) });
      if (job) params.set("job", job);
      let text = "";
      try {
        const response = await get(`${log.dataset.logsUrl}?${params}`);
        text = await response.text();
        if (mine !== generation) return;
        offset = Number(response.headers.get("X-Log-Offset") || offset + text.length);
      } catch (_) {
        if (mine === generation && !log.textContent) log.textContent = "(no log yet)";
        if (once || !active) return;
      }
      if (text) {
        if (log.textContent === "(no log yet)" || log.textContent === "(empty)") log.textContent = "";
        log.textContent += text;
        log.scrollTop = log.scrollHeight;
        continue;  // more may be waiting
      }
      if (!log.textContent) log.textContent = active ? "(no log yet)" : "(empty)";
      if (once || !active) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (mine !== generation) return;
    }
  }

  function showLog(name) {
    generation += 1;
    job = name;
    offset = 0;
    log.textContent = "";
    document.getElementById("log-name").textContent = name ? `job ${name}` : "the workflow engine (cwltool)";
    followLog();
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest(".log-button");
    if (!target) return;
    showLog(target.dataset.job || "");
    log.focus();
  });

  showLog("");
  if (active) setTimeout(poll, 1000);
})();
