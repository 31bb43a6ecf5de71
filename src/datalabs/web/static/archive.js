// The archive pages (templates/archive/*.html).
// - /archive: scans in progress follow the scan API (polled every second; the page reloads once when a
//   scan ends, for the new counts); the ADQL editor runs its query at the TAP service (/tap/sync,
//   FORMAT=json) and shows the rows: at most MAXREC rows are fetched, then paged (PAGE_SIZE per page) and
//   sorted (a click on a column header) here in the page, without asking the server again; TAP errors
//   (a VOTable with QUERY_STATUS ERROR) are shown with their text, and the place they name (line,
//   column) can be selected in the editor. The download links repeat the same query as CSV / VOTable.
//   The query builder reads a table's columns from the VOSI tables resource (/tap/tables/<name>) and
//   writes a query into the editor.
// - /archive/products/<key>: the attribute filter, and a note instead of a quicklook that fails to load.
// Everything a query returns is set as text, never as HTML.
"use strict";

(function () {
  const PAGE_SIZE = 50;
  const NUMERIC = ["short", "int", "long", "float", "double", "unsignedByte"];
  const REGULAR = /^[A-Za-z][A-Za-z0-9_]*$/;
  const RESERVED = new Set(["ABS", "ALL", "AND", "AS", "ASC", "AVG", "BETWEEN", "BY", "CASE", "COUNT", "DESC",
    "DISTINCT", "END", "EXISTS", "FROM", "GROUP", "HAVING", "IN", "IS", "JOIN", "LIKE", "LIMIT", "MAX", "MIN",
    "NOT", "NULL", "OFFSET", "ON", "OR", "ORDER", "SELECT", "SIZE", "SUM", "TOP", "UNION", "USING", "VALUE",
    "WHERE", "DATE", "TIME", "TIMESTAMP", "COLUMN", "USER", "POSITION", "SECTION", "LANGUAGE", "LEVEL"]);
  const byId = (id) => document.getElementById(id);
  const csrfToken = () => (window.datalabs ? window.datalabs.csrfToken() : "");

  // -- scans in progress ------------------------------------------------------------------------------------
  function followScans() {
    const running = [...document.querySelectorAll(".scan-state[data-scan-url]")];
    if (!running.length) return;
    const poll = async () => {
      let ended = false;
      for (const box of running) {
        if (!box.dataset.scanUrl) continue;
        let scan;
        try {
          const response = await fetch(box.dataset.scanUrl, { credentials: "same-origin",
                                                              headers: { Accept: "application/json" } });
          if (!response.ok) continue;
          scan = await response.json();
        } catch (_) { continue; }
        const state = box.querySelector('[data-role="state"]');
        state.textContent = scan.state;
        state.className = `badge state-${scan.state}`;
        const bar = box.querySelector("progress");
        if (bar) { bar.max = scan.files_total || 1; bar.value = scan.files_done; }
        box.querySelector('[data-role="counts"]').textContent =
          `${scan.files_done} / ${scan.files_total} files read, ${scan.indexed} products indexed, ` +
          `${scan.unchanged} unchanged, ${scan.problems} problems` + (scan.removed ? `, ${scan.removed} removed` : "");
        if (scan.state !== "running") { delete box.dataset.scanUrl; ended = true; }
      }
      if (ended) { window.location.reload(); return; }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }

  // -- the ADQL editor --------------------------------------------------------------------------------------
  function adqlEditor() {
    const form = byId("adql-form");
    if (!form) return;
    const query = byId("adql-query");
    const maxrec = byId("adql-maxrec");
    const status = byId("adql-status");
    const errorBox = byId("adql-error");
    const table = byId("adql-results");
    const wrap = byId("adql-results-wrap");
    const pager = byId("adql-pager");
    const goTo = byId("adql-error-goto");
    let result = null; // {columns, rows, overflow}
    let order = null; // {index, descending}
    let page = 0;
    let errorPlace = null;

    const downloadUrl = (format) => "/tap/sync?" + new URLSearchParams({ REQUEST: "doQuery", LANG: "ADQL",
      FORMAT: format, MAXREC: maxrec.value || "", QUERY: query.value }).toString();
    const updateDownloads = () => {
      byId("adql-csv").href = downloadUrl("csv");
      byId("adql-votable").href = downloadUrl("votable");
    };
    query.addEventListener("input", updateDownloads);
    maxrec.addEventListener("input", updateDownloads);
    updateDownloads();

    function showError(message) {
      byId("adql-error-text").textContent = message;
      errorBox.hidden = false;
      const place = /line (\d+)(?:, column (\d+))?/i.exec(message);
      errorPlace = place ? { line: Number(place[1]), column: Number(place[2] || 1) } : null;
      goTo.hidden = !errorPlace;
      if (errorPlace) goTo.textContent = `Show line ${errorPlace.line}, column ${errorPlace.column} in the query`;
    }

    goTo.addEventListener("click", () => {
      if (!errorPlace) return;
      const lines = query.value.split("\n");
      let offset = 0;
      for (let i = 0; i < Math.min(errorPlace.line - 1, lines.length); i += 1) offset += lines[i].length + 1;
      const lineText = lines[Math.min(errorPlace.line, lines.length) - 1] || "";
      const start = offset + Math.min(Math.max(errorPlace.column - 1, 0), lineText.length);
      const end = Math.min(start + Math.max(1, (/^\S+/.exec(lineText.slice(start - offset)) || [""])[0].length),
                           offset + lineText.length);
      query.focus();
      query.setSelectionRange(start, Math.max(end, start));
    });

    // The message of a TAP error: the QUERY_STATUS INFO of a VOTable error document, else the body's text.
    function tapError(text, statusCode) {
      try {
        const doc = new DOMParser().parseFromString(text, "application/xml");
        const info = [...doc.getElementsByTagName("INFO")].find((el) => el.getAttribute("name") === "QUERY_STATUS" &&
                                                                        el.getAttribute("value") === "ERROR");
        if (info && info.textContent.trim()) return info.textContent.trim();
      } catch (_) { /* not XML */ }
      return text.trim().slice(0, 2000) || `the TAP service answered ${statusCode}`;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const run = byId("adql-run");
      run.setAttribute("aria-busy", "true");
      run.disabled = true;
      errorBox.hidden = true;
      status.textContent = "Running the query…";
      const body = new URLSearchParams({ REQUEST: "doQuery", LANG: "ADQL", FORMAT: "json", QUERY: query.value });
      if (maxrec.value) body.set("MAXREC", maxrec.value);
      try {
        let response;
        try {
          response = await fetch("/tap/sync", { method: "POST", body, credentials: "same-origin",
            headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() } });
        } catch (_) {
          throw new Error("the server could not be reached; check your connection");
        }
        const text = await response.text();
        let data = null;
        if (response.ok) {
          try { data = JSON.parse(text); } catch (_) { data = null; }
        }
        if (!data || !Array.isArray(data.rows)) throw new Error(tapError(text, response.status));
        result = { columns: data.columns || [], rows: data.rows, overflow: Boolean(data.overflow) };
        order = null;
        page = 0;
        showResult();
      } catch (error) {
        result = null;
        wrap.hidden = true;
        pager.hidden = true;
        status.textContent = "The query failed.";
        showError(error.message);
      } finally {
        run.removeAttribute("aria-busy");
        run.disabled = false;
      }
    });

    const columnIndex = (name) => result.columns.findIndex((c) => String(c.name).toLowerCase() === name);

    function productLink(row) {
      const keyAt = columnIndex("product_key");
      const idAt = columnIndex("identifier");
      const key = keyAt >= 0 && row[keyAt] !== null ? row[keyAt] : (idAt >= 0 ? row[idAt] : null);
      if (key === null || key === undefined || key === "") return null;
      return `/archive/products/${encodeURIComponent(String(key))}`;
    }

    const cellText = (value) => {
      if (value === null || value === undefined) return "";
      if (typeof value === "object") return JSON.stringify(value);
      return String(value);
    };

    function compare(a, b) {
      if (a === b) return 0;
      if (a === null || a === undefined) return 1; // nulls last either way (see sortedRows)
      if (b === null || b === undefined) return -1;
      if (typeof a === "number" && typeof b === "number") return a - b;
      return cellText(a).localeCompare(cellText(b), undefined, { numeric: true });
    }

    function sortedRows() {
      if (!order) return result.rows;
      const { index, descending } = order;
      return [...result.rows].sort((x, y) => {
        const a = x[index], b = y[index];
        if (a === null || a === undefined || b === null || b === undefined) return compare(a, b);
        return descending ? compare(b, a) : compare(a, b);
      });
    }

    function header() {
      const row = document.createElement("tr");
      result.columns.forEach((column, index) => {
        const th = document.createElement("th");
        th.scope = "col";
        const button = document.createElement("button");
        button.type = "button";
        button.className = "sort-button";
        const unit = column.unit ? ` [${column.unit}]` : "";
        button.textContent = column.name + unit;
        if (column.description) th.title = column.description;
        if (order && order.index === index) {
          th.setAttribute("aria-sort", order.descending ? "descending" : "ascending");
          button.textContent += order.descending ? " ▼" : " ▲";
        }
        button.setAttribute("aria-label", `Sort by ${column.name}`);
        button.addEventListener("click", () => {
          const again = order && order.index === index;
          order = { index, descending: again ? !order.descending : false };
          page = 0;
          showResult();
          table.querySelectorAll("thead button")[index].focus();
        });
        th.append(button);
        row.append(th);
      });
      return row;
    }

    function showResult() {
      const rows = sortedRows();
      const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
      page = Math.min(page, pages - 1);
      const keyAt = columnIndex("product_key");
      const idAt = columnIndex("identifier");
      table.tHead.replaceChildren(header());
      table.tBodies[0].replaceChildren(...rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE).map((values) => {
        const tr = document.createElement("tr");
        const href = productLink(values);
        values.forEach((value, index) => {
          const td = document.createElement("td");
          if (value === null || value === undefined) td.className = "null";
          if (typeof value === "number") td.className = "num";
          const text = cellText(value);
          if (href && (index === keyAt || index === idAt) && text) {
            const link = document.createElement("a");
            link.href = href;
            link.textContent = text;
            td.append(link);
          } else {
            td.textContent = text;
          }
          tr.append(td);
        });
        return tr;
      }));
      wrap.hidden = false;
      const first = rows.length ? page * PAGE_SIZE + 1 : 0;
      const last = Math.min((page + 1) * PAGE_SIZE, rows.length);
      let text = `${rows.length} row${rows.length === 1 ? "" : "s"}`;
      if (rows.length > PAGE_SIZE) text += `, showing ${first}–${last}`;
      if (order) {
        const direction = order.descending ? " (descending)" : "";
        text += `, sorted by ${result.columns[order.index].name}${direction} (the fetched rows, here in the page)`;
      }
      if (result.overflow) {
        text += `. The result was cut at MAXREC (${rows.length} rows): raise it, or download the query`;
      }
      status.textContent = text + ".";
      pager.hidden = pages <= 1;
      byId("adql-page").textContent = `Page ${page + 1} of ${pages}`;
      byId("adql-prev").disabled = page === 0;
      byId("adql-next").disabled = page >= pages - 1;
    }

    byId("adql-prev").addEventListener("click", () => { page = Math.max(0, page - 1); showResult(); });
    byId("adql-next").addEventListener("click", () => { page += 1; showResult(); });
  }

  // -- the query builder ------------------------------------------------------------------------------------
  function queryBuilder() {
    const box = byId("query-builder");
    if (!box) return;
    const tableSelect = byId("qb-table");
    const columnsSelect = byId("qb-columns");
    const orderSelect = byId("qb-order");
    const note = byId("qb-status");
    const conditions = [...box.querySelectorAll(".qb-condition")];
    let columns = []; // [{name, datatype, unit}]

    const adqlName = (name) => (REGULAR.test(name) && !RESERVED.has(name.toUpperCase())
      ? name : `"${name.replace(/"/g, '""')}"`);
    const option = (value, text) => {
      const element = document.createElement("option");
      element.value = value;
      element.textContent = text;
      return element;
    };

    async function loadColumns() {
      const name = tableSelect.value;
      columns = [];
      columnsSelect.replaceChildren();
      if (!name) return;
      note.hidden = false;
      note.textContent = `Reading the columns of ${name}…`;
      try {
        const response = await fetch(box.dataset.tablesUrl + encodeURIComponent(name.replace(/"/g, "")),
                                     { credentials: "same-origin" });
        if (!response.ok) throw new Error(`the TAP service answered ${response.status}`);
        const doc = new DOMParser().parseFromString(await response.text(), "application/xml");
        columns = [...doc.getElementsByTagName("column")].map((el) => {
          const child = (tag) => { const c = el.getElementsByTagName(tag)[0]; return c ? c.textContent.trim() : ""; };
          return { name: child("name").replace(/^"(.*)"$/, "$1").replace(/""/g, '"'), datatype: child("dataType"),
                   unit: child("unit"), description: child("description") };
        });
        note.hidden = true;
      } catch (error) {
        note.textContent = `The columns of ${name} cannot be read: ${error.message}`;
        return;
      }
      const choices = columns.map((c) => {
        const o = option(c.name, c.unit ? `${c.name} [${c.unit}]` : c.name);
        if (c.description) o.title = c.description;
        return o;
      });
      columnsSelect.replaceChildren(...choices);
      orderSelect.replaceChildren(option("", "(no order)"), ...columns.map((c) => option(c.name, c.name)));
      for (const condition of conditions) {
        condition.querySelector(".qb-col").replaceChildren(option("", "(none)"),
                                                           ...columns.map((c) => option(c.name, c.name)));
      }
    }

    function literal(column, value) {
      const spec = columns.find((c) => c.name === column);
      const trimmed = value.trim();
      if (spec && NUMERIC.includes(spec.datatype) && trimmed !== "" && Number.isFinite(Number(trimmed))) return trimmed;
      return `'${value.replace(/'/g, "''")}'`;
    }

    function write() {
      const table = tableSelect.value;
      if (!table) return;
      const chosen = [...columnsSelect.selectedOptions].map((o) => adqlName(o.value));
      const top = parseInt(byId("qb-top").value, 10);
      let adql = "SELECT " + (top > 0 ? `TOP ${top} ` : "") + (chosen.length ? chosen.join(", ") : "*");
      adql += `\nFROM ${table}`;
      const where = [];
      for (const condition of conditions) {
        const column = condition.querySelector(".qb-col").value;
        if (!column) continue;
        const op = condition.querySelector(".qb-op").value;
        const value = condition.querySelector(".qb-value").value;
        const name = adqlName(column);
        where.push(op.startsWith("IS") ? `${name} ${op}` : `${name} ${op} ${literal(column, value)}`);
      }
      if (where.length) adql += "\nWHERE " + where.join("\n  AND ");
      if (orderSelect.value) adql += `\nORDER BY ${adqlName(orderSelect.value)}`;
      const editor = byId("adql-query");
      editor.value = adql;
      editor.dispatchEvent(new Event("input"));
      editor.focus();
    }

    tableSelect.addEventListener("change", loadColumns);
    byId("qb-write").addEventListener("click", write);
    const details = byId("query-builder-box");
    let loaded = false;
    const loadOnce = () => { if (!loaded && (!details || details.open)) { loaded = true; loadColumns(); } };
    if (details) details.addEventListener("toggle", loadOnce);
    loadOnce();
  }

  // -- a product's page -------------------------------------------------------------------------------------
  function productPage() {
    const image = byId("quicklook-image");
    if (image) {
      const missing = () => { byId("quicklook").hidden = true; byId("quicklook-missing").hidden = false; };
      image.addEventListener("error", missing);
      if (image.complete && image.naturalWidth === 0 && image.getAttribute("src")) missing();
    }
    const filter = byId("attribute-filter");
    if (!filter) return;
    const rows = [...document.querySelectorAll("#attributes tbody tr")];
    const count = document.querySelector("#attribute-count small");
    const apply = () => {
      const words = filter.value.trim().toLowerCase();
      let shown = 0;
      for (const row of rows) {
        const match = !words || row.textContent.toLowerCase().includes(words);
        row.hidden = !match;
        if (match) shown += 1;
      }
      count.textContent = words ? `${shown} of ${rows.length} attributes` : "";
    };
    filter.addEventListener("input", apply);
    apply();
  }

  followScans();
  adqlEditor();
  queryBuilder();
  productPage();
})();
