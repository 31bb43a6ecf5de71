// The file browser's changes, made through the file API (cookie + X-CSRF-Token header):
// uploads (file picker and drag-and-drop; one XHR PUT per file with a progress bar), new folder,
// rename/move and delete. After each change the listing and usage are re-read from the server.
"use strict";

(function () {
  const { api, confirmDialog, errorOf, encodePath, csrfToken } = window.datalabs;
  const browser = document.getElementById("browser");
  if (!browser || browser.dataset.writable !== "true") return;

  const folder = browser.dataset.path;
  const pathOf = (name) => `${folder}/${name}`;
  const message = document.getElementById("action-message");
  const uploadList = document.getElementById("upload-list");
  const input = document.getElementById("upload-input");

  function say(text, isError = false) {
    message.textContent = "";
    const line = document.createElement("p");
    line.textContent = text;
    if (isError) {
      line.className = "alert alert-error";
      line.setAttribute("role", "alert");
    }
    message.append(line);
  }

  // -- refreshing -------------------------------------------------------------------------
  let refreshing = null;
  async function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (response.redirected || !response.ok) { window.location.reload(); return; }
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const id of ["listing", "usage"]) {
          const fresh = page.getElementById(id);
          const current = document.getElementById(id);
          if (fresh && current) current.replaceWith(document.importNode(fresh, true));
        }
        document.querySelectorAll("#listing .js-only[hidden]").forEach((el) => { el.hidden = false; });
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  // -- uploads ----------------------------------------------------------------------------
  const queue = [];
  let uploading = false;

  function uploadItem(file) {
    const item = document.createElement("li");
    item.className = "upload";
    item.innerHTML =
      '<div class="upload-line"><span class="upload-name"></span><span class="upload-state" aria-hidden="true"></span></div>' +
      '<progress max="100" value="0"></progress><p class="upload-text visually-hidden"></p>';
    item.querySelector(".upload-name").textContent = file.name;
    item.querySelector("progress").setAttribute("aria-label", `Upload of ${file.name}`);
    uploadList.prepend(item);
    return item;
  }

  function setState(item, text, announce) {
    item.querySelector(".upload-state").textContent = text;
    if (announce) item.querySelector(".upload-text").textContent = `${item.querySelector(".upload-name").textContent}: ${announce}`;
  }

  function showUploadError(item, file, error) {
    item.querySelector("progress").remove();
    setState(item, "failed");
    const text = document.createElement("p");
    text.className = "upload-error";
    text.setAttribute("role", "alert");
    text.textContent = `Not uploaded: ${error.message}`;
    item.append(text);
    if (error.code === "already_exists") {
      const overwrite = document.createElement("button");
      overwrite.type = "button";
      overwrite.className = "small";
      overwrite.textContent = `Overwrite ${file.name}`;
      const dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "small outline secondary";
      dismiss.textContent = "Keep the existing file";
      overwrite.addEventListener("click", () => { item.remove(); enqueue(file, true); });
      dismiss.addEventListener("click", () => { item.remove(); say(`${file.name} was not uploaded.`); });
      item.append(overwrite, dismiss);
      overwrite.focus();
    }
  }

  const bytes = (n) => {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
  };

  // The server refuses an upload over quota before reading its body; a browser sending a large
  // body may then only see a dropped connection, so refuse here first with the same message.
  function overQuota(file, overwrite) {
    const usage = document.getElementById("usage");
    if (overwrite || !usage || usage.dataset.free === undefined) return null;
    const free = Number(usage.dataset.free);
    if (file.size <= free) return null;
    return { code: "quota_exceeded",
             message: `not enough room in ${usage.dataset.workspace}: ${bytes(file.size)} needed, ${bytes(free)} free` };
  }

  function sendFile(file, overwrite, item) {
    const refused = overQuota(file, overwrite);
    if (refused) {
      showUploadError(item, file, refused);
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const url = `/api/v1/content/${encodePath(pathOf(file.name))}${overwrite ? "?overwrite=true" : ""}`;
      const bar = item.querySelector("progress");
      xhr.open("PUT", url);
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        const percent = Math.floor((event.loaded / event.total) * 100);
        bar.value = percent;
        setState(item, `${percent}%`);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = 100;
          setState(item, "100% · done", "uploaded");
          item.classList.add("upload-done");
          resolve(true);
          return;
        }
        const response = new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText });
        errorOf(response).then((error) => { showUploadError(item, file, error); resolve(false); });
      });
      xhr.addEventListener("error", () => {
        showUploadError(item, file, { code: "network", message: "the connection to the server was lost" });
        resolve(false);
      });
      setState(item, "0%", "uploading");
      xhr.send(file);
    });
  }

  function enqueue(file, overwrite = false) {
    const item = uploadItem(file);
    setState(item, "waiting");
    queue.push({ file, overwrite, item });
    if (!uploading) drain();
  }

  async function drain() {
    uploading = true;
    while (queue.length) {
      const { file, overwrite, item } = queue.shift();
      if (await sendFile(file, overwrite, item)) await refresh();
    }
    uploading = false;
  }

  input.addEventListener("change", () => {
    Array.from(input.files).forEach((file) => enqueue(file));
    input.value = "";
  });

  // Drag and drop anywhere on the browser section.
  let depth = 0;
  const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
  browser.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    browser.classList.add("dragging");
  });
  browser.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  browser.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) browser.classList.remove("dragging");
  });
  browser.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    browser.classList.remove("dragging");
    Array.from(event.dataTransfer.files).forEach((file) => enqueue(file));
  });

  // -- dialogs: new folder, rename ----------------------------------------------------------
  function formDialog(id, onSubmit) {
    const dialog = document.getElementById(id);
    const form = dialog.querySelector("form");
    const alert = form.querySelector('[role="alert"]');
    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      alert.hidden = true;
      const submit = form.querySelector('[type="submit"]');
      submit.disabled = true;
      try {
        await onSubmit(form);
        dialog.close();
        await refresh();
      } catch (error) {
        alert.textContent = error.message || String(error);
        alert.hidden = false;
      } finally {
        submit.disabled = false;
      }
    });
    return (value, select) => {
      alert.hidden = true;
      const field = form.querySelector("input");
      field.value = value;
      dialog.showModal();
      field.focus();
      if (select) field.setSelectionRange(select[0], select[1]);
    };
  }

  const openFolderDialog = formDialog("folder-dialog", async (form) => {
    const name = form.elements.name.value.trim();
    await api("POST", `/api/v1/files/${encodePath(pathOf(name))}`, { type: "directory" });
    say(`Folder ${name} created.`);
  });
  document.getElementById("new-folder-button").addEventListener("click", () => openFolderDialog(""));

  let renaming = null;
  const openRenameDialog = formDialog("rename-dialog", async (form) => {
    const target = form.elements.path.value.trim().replace(/^\/+/, "").replace(/\/+$/, "");
    if (target === pathOf(renaming)) return;
    await api("PATCH", `/api/v1/files/${encodePath(pathOf(renaming))}`, { path: target });
    say(`${renaming} moved to ${target}.`);
  });

  async function remove(name, type) {
    const folderText = type === "directory" ? `the folder ${name} and everything in it` : name;
    const ok = await confirmDialog(`Delete ${folderText}? This cannot be undone.`,
                                   { confirmLabel: "Delete", title: "Delete" });
    if (!ok) return;
    try {
      await api("DELETE", `/api/v1/files/${encodePath(pathOf(name))}${type === "directory" ? "?recursive=true" : ""}`);
      say(`${name} deleted.`);
      await refresh();
    } catch (error) {
      say(`Could not delete ${name}: ${error.message}`, true);
    }
  }

  browser.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const { name, type } = row.dataset;
    if (button.dataset.action === "delete") {
      remove(name, type);
    } else if (button.dataset.action === "rename") {
      renaming = name;
      const full = pathOf(name);
      const dot = type === "file" ? name.lastIndexOf(".") : -1;
      const end = full.length - (dot > 0 ? name.length - dot : 0);
      openRenameDialog(full, [full.length - name.length, end]);
    }
  });
})();
