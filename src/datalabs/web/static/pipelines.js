// The run form of a pipeline (templates/pipelines/run_form.html). The form works without this
// script (paths are typed, with the workspace roots offered); it adds choosing another version,
// a small folder browser for File and Directory inputs (the files API), and uploads into
// my_workspace/uploads/ that fill in the path. Everything shown of a file name is set as text.
"use strict";

(function () {
  const { api, confirmDialog, errorOf, encodePath, csrfToken } = window.datalabs;
  const UPLOADS = "my_workspace/uploads";

  const version = document.getElementById("run-version");
  if (version && version.dataset.reload) {
    version.addEventListener("change", () => {
      window.location.assign(`${version.dataset.reload}?version=${encodeURIComponent(version.value)}`);
    });
  }

  const parentOf = (path) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");

  // -- the folder browser ---------------------------------------------------------------------
  function button(text, onClick, className = "small outline") {
    const element = document.createElement("button");
    element.type = "button";
    element.className = className;
    element.textContent = text;
    element.addEventListener("click", onClick);
    return element;
  }

  async function showFolder(picker, input, path) {
    const kind = input.dataset.kind || "File";
    picker.replaceChildren();
    const heading = document.createElement("p");
    const where = document.createElement("code");
    where.textContent = path || "/";
    heading.append("Folder ", where, " ");
    if (path) heading.append(button("Up", () => showFolder(picker, input, parentOf(path))));
    if (kind === "Directory" && path.includes("/")) {
      heading.append(" ", button("Choose this folder", () => choose(picker, input, path), "small"));
    }
    heading.append(" ", button("Close", () => { picker.hidden = true; }, "small secondary outline"));
    picker.append(heading);
    let info;
    try {
      info = await api("GET", `/api/v1/files/${encodePath(path)}`.replace(/\/$/, ""));
    } catch (error) {
      const message = document.createElement("p");
      message.className = "field-error";
      message.setAttribute("role", "alert");
      message.textContent = `This folder cannot be shown: ${error.message}`;
      picker.append(message);
      return;
    }
    const list = document.createElement("ul");
    list.className = "plain path-entries";
    for (const entry of info.entries || []) {
      const item = document.createElement("li");
      const isFolder = entry.type === "directory";
      const label = isFolder ? `${entry.name}/` : entry.name;
      if (isFolder) {
        item.append(button(label, () => showFolder(picker, input, entry.path), "small secondary outline"));
      } else if (kind === "File") {
        item.append(button(label, () => choose(picker, input, entry.path), "small outline"));
      } else {
        item.textContent = label;
      }
      list.append(item);
    }
    if (!list.children.length) {
      const empty = document.createElement("li");
      empty.textContent = "This folder is empty.";
      list.append(empty);
    }
    picker.append(list);
  }

  function choose(picker, input, path) {
    input.value = path;
    picker.hidden = true;
    input.dispatchEvent(new Event("change"));
    input.focus();
  }

  document.querySelectorAll(".path-browse").forEach((browse) => {
    const input = document.getElementById(browse.dataset.target);
    const picker = document.querySelector(`.path-picker[data-for="${browse.dataset.target}"]`);
    if (!input || !picker) return;
    browse.addEventListener("click", () => {
      if (!picker.hidden) { picker.hidden = true; return; }
      picker.hidden = false;
      const typed = input.value.replace(/\/+$/, "");
      showFolder(picker, input, typed.includes("/") ? parentOf(typed) : typed || "my_workspace");
    });
  });

  // -- uploads into my_workspace/uploads --------------------------------------------------------
  function put(path, file, overwrite) {
    const query = `?parents=true${overwrite ? "&overwrite=true" : ""}`;
    return fetch(`/api/v1/content/${encodePath(path)}${query}`, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/octet-stream", Accept: "application/json" },
      body: file,
    });
  }

  document.querySelectorAll(".path-upload").forEach((chooser) => {
    const input = document.getElementById(chooser.dataset.target);
    const status = document.querySelector(`.upload-status[data-for="${chooser.dataset.target}"]`);
    chooser.addEventListener("change", async () => {
      const file = chooser.files[0];
      if (!file || !input) return;
      const path = `${UPLOADS}/${file.name}`;
      const say = (text) => { if (status) status.textContent = text; };
      say(`Uploading ${file.name}…`);
      try {
        let response = await put(path, file, false);
        if (!response.ok) {
          let error = await errorOf(response);
          if (response.status === 409 && await confirmDialog(
            `${path} exists already. Replace it with the file you chose?`, { confirmLabel: "Replace" })) {
            response = await put(path, file, true);
            error = response.ok ? null : await errorOf(response);
          }
          if (error) { say(`Not uploaded: ${error.message}`); return; }
        }
        input.value = path;
        say(`Uploaded to ${path}.`);
      } catch (_) {
        say("Not uploaded: the server could not be reached.");
      } finally {
        chooser.value = "";
      }
    });
  });
})();
