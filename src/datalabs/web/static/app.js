// datalabs web UI: small enhancements shared by every page. The pages work without this script
// (forms post, links navigate); it adds confirmation dialogs, copy buttons, and the helpers the
// file browser (files.js) uses to call the API with the login's CSRF token.
"use strict";

(function () {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  // Ask a question in the page's <dialog>; resolves to true when confirmed.
  function confirmDialog(message, { confirmLabel = "Confirm", title = "Please confirm" } = {}) {
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.confirm(message));
    }
    dialog.querySelector("#confirm-title").textContent = title;
    dialog.querySelector("#confirm-message").textContent = message;
    const yes = dialog.querySelector('[data-answer="yes"]');
    yes.textContent = confirmLabel;
    return new Promise((resolve) => {
      const answer = (value) => () => { cleanup(); dialog.close(); resolve(value); };
      const onYes = answer(true);
      const onNo = answer(false);
      const onCancel = (event) => { event.preventDefault(); onNo(); };
      const no = dialog.querySelector('[data-answer="no"]');
      function cleanup() {
        yes.removeEventListener("click", onYes);
        no.removeEventListener("click", onNo);
        dialog.removeEventListener("cancel", onCancel);
      }
      yes.addEventListener("click", onYes);
      no.addEventListener("click", onNo);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      no.focus();
    });
  }

  // The message of an API error body {"error": {"code", "message"}}, or a fallback.
  async function errorOf(response) {
    try {
      const body = await response.json();
      if (body && body.error) return { code: body.error.code, message: body.error.message };
    } catch (_) { /* not JSON */ }
    return { code: "http_" + response.status, message: `the server answered ${response.status} ${response.statusText}` };
  }

  // fetch() for the API: sends the login cookie and the CSRF header; throws {code, message} on errors.
  async function api(method, url, body) {
    const headers = { "X-CSRF-Token": csrfToken(), Accept: "application/json" };
    const options = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (_) {
      throw { code: "network", message: "the server could not be reached; check your connection" };
    }
    if (!response.ok) throw await errorOf(response);
    return response.status === 204 ? null : response.json();
  }

  // A virtual path as a URL path: every segment percent-encoded.
  const encodePath = (path) => path.split("/").map(encodeURIComponent).join("/");

  window.datalabs = { csrfToken, confirmDialog, errorOf, api, encodePath };

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".js-only[hidden]").forEach((el) => { el.hidden = false; });

    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        if (form.dataset.confirmed === "yes") return;
        event.preventDefault();
        const label = form.querySelector('[type="submit"]')?.textContent.trim() || "Confirm";
        if (await confirmDialog(form.dataset.confirm, { confirmLabel: label })) {
          form.dataset.confirmed = "yes";
          form.requestSubmit ? form.requestSubmit() : form.submit();
        }
      });
    });

    document.querySelectorAll("[data-copy]").forEach((button) => {
      button.addEventListener("click", async () => {
        const field = document.getElementById(button.dataset.copy);
        const original = button.textContent;
        try {
          await navigator.clipboard.writeText(field.value);
          button.textContent = "Copied";
        } catch (_) {
          field.select();
          button.textContent = "Press Ctrl+C to copy";
        }
        setTimeout(() => { button.textContent = original; }, 2500);
      });
    });
  });
})();
