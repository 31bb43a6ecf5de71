// The discovery page (templates/discover.html). The page works without this script (a plain GET form, links);
// it adds:
// - suggestions while typing: after a short pause, /api/v1/discover/suggest?q=... is asked (the login cookie
//   goes along, so the caller's own assets are suggested too) and shown under the search box as an ARIA
//   combobox list. A facet value (mission, target...) adds that filter and searches; an asset title opens
//   the asset's page. Arrow keys move, Enter chooses, Escape closes. Answers that arrive out of order are
//   dropped (only the newest request counts).
// - facet checkboxes and the sort menu submit the form at once (the "Apply filters" button then goes).
// - "Open in datalab": a dialog listing the datalabs, each linking to its launch form with ?volume=<volume>.
// Suggestions are set as text, never as HTML.
"use strict";

(function () {
  const DELAY = 180; // ms after the last key before asking
  const form = document.getElementById("discover-form");
  if (!form) return;
  const input = document.getElementById("discover-q");
  const list = document.getElementById("discover-suggestions");
  const FACET_NAMES = { mission: "mission", instrument: "instrument", target: "target", thematic_area: "thematic area",
                        domain: "domain" };
  const TYPE_NAMES = { dataset: "data set", volume: "volume", datalab: "datalab", pipeline: "pipeline" };

  const submit = () => (form.requestSubmit ? form.requestSubmit() : form.submit());

  // -- facets and sort submit at once --------------------------------------------------------------------
  document.querySelectorAll("[data-autosubmit]").forEach((control) => {
    control.addEventListener("change", submit);
  });
  const apply = document.getElementById("discover-apply");
  if (apply) apply.hidden = true;

  // -- suggestions -----------------------------------------------------------------------------------------
  let items = [];
  let active = -1;
  let timer = null;
  let asked = 0; // the number of the newest request: older answers are dropped

  function close() {
    list.hidden = true;
    list.replaceChildren();
    items = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((li, i) => {
      li.setAttribute("aria-selected", i === index ? "true" : "false");
      li.classList.toggle("active", i === index);
    });
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", list.children[index].id);
      list.children[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function safeUrl(url) {
    return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") && !url.includes("\\");
  }

  function choose(item) {
    close();
    if (item.facet) {
      // The words typed were the start of this value: they make way for the filter.
      const words = input.value.trim().split(/\s+/);
      words.pop();
      input.value = words.join(" ");
      const value = `${item.facet}:${item.text}`;
      const already = [...form.elements].some((el) => el.name === "facet" && el.value === value && el.checked);
      if (!already) {
        const hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = "facet";
        hidden.value = value;
        form.appendChild(hidden);
      }
      submit();
    } else if (item.url && safeUrl(item.url)) {
      window.location.assign(item.url);
    }
  }

  function show(suggestions) {
    close();
    items = suggestions.filter((s) => s.facet || safeUrl(s.url));
    if (!items.length) return;
    items.forEach((item, i) => {
      const li = document.createElement("li");
      li.id = `discover-suggestion-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.className = item.facet ? "suggestion suggestion-facet" : "suggestion suggestion-asset";
      const text = document.createElement("span");
      text.className = "suggestion-text";
      text.textContent = item.text;
      const kind = document.createElement("small");
      kind.className = "suggestion-kind";
      kind.textContent = item.facet
        ? `${FACET_NAMES[item.facet] || item.facet}${item.count != null ? ` · ${item.count}` : ""}`
        : TYPE_NAMES[item.asset_type] || item.asset_type || "";
      li.append(text, " ", kind);
      // mousedown, not click: the input keeps its focus (no blur closing the list first)
      li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(item); });
      li.addEventListener("mousemove", () => { if (active !== i) highlight(i); });
      list.appendChild(li);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  async function ask(text) {
    const number = ++asked;
    const url = `${form.dataset.suggestUrl}?${new URLSearchParams({ q: text })}`;
    let suggestions;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      suggestions = await response.json();
    } catch (_) {
      return; // suggestions are a help; the search itself still works
    }
    if (number !== asked || document.activeElement !== input) return;
    show(Array.isArray(suggestions) ? suggestions : []);
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value;
    const last = (text.match(/[\p{L}\p{N}_]+$/u) || [""])[0];
    if (last.length < 2) { asked++; close(); return; }
    timer = setTimeout(() => ask(text), DELAY);
  });

  input.addEventListener("keydown", (event) => {
    const open = !list.hidden && items.length;
    if (event.key === "ArrowDown") {
      if (!open) return;
      event.preventDefault();
      highlight(active + 1 >= items.length ? 0 : active + 1);
    } else if (event.key === "ArrowUp") {
      if (!open) return;
      event.preventDefault();
      highlight(active <= 0 ? items.length - 1 : active - 1);
    } else if (event.key === "Enter") {
      if (open && active >= 0) {
        event.preventDefault();
        choose(items[active]);
      } else {
        asked++; // a search is on its way: a late answer must not open the list again
        clearTimeout(timer);
        close();
      }
    } else if (event.key === "Escape") {
      if (open) { event.preventDefault(); asked++; close(); }
    }
  });

  input.addEventListener("blur", () => { asked++; clearTimeout(timer); close(); });

  // -- "Open in datalab" -----------------------------------------------------------------------------------
  const dialog = document.getElementById("open-dialog");
  if (dialog) {
    const volumeName = document.getElementById("open-dialog-volume");
    let opener = null;
    document.querySelectorAll("[data-open-volume]").forEach((button) => {
      button.addEventListener("click", () => {
        const volume = button.dataset.openVolume;
        volumeName.textContent = volume;
        dialog.querySelectorAll("[data-launch-href]").forEach((link) => {
          link.href = `${link.dataset.launchHref}?${new URLSearchParams({ volume })}`;
        });
        opener = button;
        if (typeof dialog.showModal === "function") dialog.showModal();
        else dialog.setAttribute("open", "");
        const first = dialog.querySelector("[data-launch-href]") || dialog.querySelector("[data-close]");
        if (first) first.focus();
      });
    });
    const closeDialog = () => {
      if (typeof dialog.close === "function") dialog.close();
      else dialog.removeAttribute("open");
    };
    dialog.querySelector("[data-close]").addEventListener("click", closeDialog);
    dialog.addEventListener("click", (event) => { if (event.target === dialog) closeDialog(); }); // the backdrop
    dialog.addEventListener("close", () => { if (opener) opener.focus(); });
  }
})();
