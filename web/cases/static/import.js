/* The import progress page: poll the job's status (JSON) and reload the page once the job is done. */
(function () {
  "use strict";
  var panel = document.querySelector("[data-poll]");
  if (!panel || !window.fetch) { return; }
  var url = panel.getAttribute("data-poll");
  var bar = panel.querySelector("[data-progress]");
  var text = panel.querySelector("[data-progress-text]");

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (status) {
        if (status.finished) { window.location.assign(status.url); return; }
        if (bar && status.progress > 0) { bar.max = 100; bar.value = status.progress; }
        if (text) { text.textContent = status.status_name + "……完成后本页将自动刷新。"; }
        setTimeout(poll, 1500);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
}());
