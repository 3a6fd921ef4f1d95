/*
 * Draw the BPMN diagram of a task's pinned definition with bpmn-js (NavigatedViewer) and mark
 * what the case has done: finished elements, open steps, and this task's step.
 *
 * The container names a JSON endpoint in data-src: {xml, completed: [ids], active: [ids], current: id|null}
 * and optionally waiting: [ids] (timers and messages a replayed step waits for) and running: [ids] (their
 * enclosing sub-processes), on the audit replay page.
 * Without JavaScript (or without the vendored bpmn-js) the rest of the page works; only the diagram is missing.
 */
(function () {
  "use strict";

  var container = document.getElementById("bpmn-diagram");
  if (!container) {
    return;
  }
  var status = document.getElementById("bpmn-diagram-status");

  function fail(text) {
    container.setAttribute("data-state", "error");
    if (status) {
      status.textContent = text;
    }
  }

  if (typeof window.BpmnJS !== "function") {
    fail("流程图组件未安装（请运行 make assets），办理与提交不受影响。");
    return;
  }

  function mark(canvas, registry, ids, marker) {
    (ids || []).forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, marker);
      }
    });
  }

  // a page that already computed the marks embeds them (the audit replay: one replay per page view)
  var embedded = document.getElementById("bpmn-diagram-data");
  var loaded = embedded
    ? Promise.resolve(JSON.parse(embedded.textContent))
    : fetch(container.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      });
  loaded
    .then(function (data) {
      if (!data.xml) {
        throw new Error("no diagram");
      }
      var viewer = new window.BpmnJS({ container: container });
      return viewer.importXML(data.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        mark(canvas, registry, data.completed, "hedui-done");
        mark(canvas, registry, data.active, "hedui-active");
        mark(canvas, registry, data.waiting, "hedui-waiting");
        mark(canvas, registry, data.running, "hedui-running");
        if (data.current) {
          mark(canvas, registry, [data.current], "hedui-current");
        }
        canvas.zoom("fit-viewport", "auto");
        container.setAttribute("data-state", "ready");
        if (status) {
          status.textContent = "";
        }
      });
    })
    .catch(function () {
      fail("流程图加载失败，请刷新页面重试；办理与提交不受影响。");
    });
})();
