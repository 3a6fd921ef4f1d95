/*
 * 在线建模: the bpmn-js Modeler (vendored by `make assets`) on the current version of a process (or a blank
 * one), with Hedui's properties panel, 检查 (the server's lint), 部署 (only the XML of a clean check, with
 * a 部署说明) and 下载 XML. Leaving the page with unsaved changes asks first.
 *
 * The page embeds its configuration in #modeler-config: source, check, deploy and designer URLs, the
 * CSRF token, the form keys and the maximum length of a 部署说明.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("modeler-config").textContent);
  var container = document.getElementById("modeler-canvas");
  var status = document.getElementById("modeler-status");
  var buttons = {
    check: document.getElementById("modeler-check"),
    deploy: document.getElementById("modeler-deploy"),
    undo: document.getElementById("modeler-undo"),
    redo: document.getElementById("modeler-redo"),
    download: document.getElementById("modeler-download")
  };
  var findingsBox = document.getElementById("modeler-findings");
  var findingsList = document.getElementById("modeler-findings-list");
  var findingsSummary = document.getElementById("modeler-findings-summary");
  var deployBox = document.getElementById("modeler-deploy-box");
  var deployForm = document.getElementById("modeler-deploy-form");
  var reasonField = document.getElementById("modeler-reason");
  var reasonError = document.getElementById("modeler-reason-error");
  var resultBox = document.getElementById("modeler-result");

  function say(text, kind) {
    status.textContent = text;
    status.setAttribute("data-kind", kind || "info");
  }

  function setEnabled(button, enabled) {
    button.disabled = !enabled;
  }

  Object.keys(buttons).forEach(function (key) { setEnabled(buttons[key], false); });

  if (typeof window.BpmnJS !== "function" || typeof window.HeduiPanel !== "function" || !window.HeduiControls) {
    container.setAttribute("data-state", "error");
    say("在线建模组件未安装（请运行 make assets）；仍可在“检查与部署”页上传文件检查和部署。", "error");
    return;
  }

  var modeler = new window.BpmnJS({
    container: container,
    moddleExtensions: { spiffworkflow: window.HeduiSpiffModdle }
  });
  window.heduiModeler = modeler;  // for the browser test and the curious designer's console
  var commandStack = modeler.get("commandStack");
  var source = null;
  var lastCheck = null;  // {xml, files, checked_hash} of the last clean check
  var dirty = false;

  function processId() {
    var root = modeler.get("canvas").getRootElement().businessObject;
    if (root.$instanceOf("bpmn:Process")) {
      return root.id;
    }
    var pools = (root.participants || []).filter(function (p) { return p.processRef; });
    return pools.length ? pools[0].processRef.id : source.process_id;
  }

  /** The bundle to check/deploy: the edited file (a new process is named after its id) and the DMN files. */
  function bundle(xml) {
    var files = {};
    Object.keys(source.files).forEach(function (name) {
      if (name !== source.filename) {
        files[name] = source.files[name];
      }
    });
    files[source.version === null ? processId() + ".bpmn" : source.filename] = xml;
    return files;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": config.csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  function refreshButtons() {
    setEnabled(buttons.undo, commandStack.canUndo());
    setEnabled(buttons.redo, commandStack.canRedo());
    setEnabled(buttons.deploy, lastCheck !== null);
  }

  function showFindings(report) {
    findingsList.textContent = "";
    findingsBox.hidden = false;
    var registry = modeler.get("elementRegistry");
    findingsSummary.textContent = report.ok
      ? "检查通过，可以部署" + (report.warnings ? "（" + report.warnings + " 个警告）" : "") + "。"
      : "有 " + report.errors + " 个错误，不能部署" + (report.warnings ? "；" + report.warnings + " 个警告" : "") + "。";
    findingsSummary.setAttribute("data-ok", report.ok ? "true" : "false");
    report.findings.forEach(function (finding) {
      var item = document.createElement("li");
      item.className = "finding finding--" + finding.severity;
      item.setAttribute("data-code", finding.code);
      var text = (finding.severity === "error" ? "错误" : "警告") + " · " +
        [finding.filename, finding.line ? "第 " + finding.line + " 行" : null, finding.element_id]
          .filter(Boolean).join(" · ") + "：" + finding.message;
      var element = finding.element_id && registry.get(finding.element_id);
      if (element) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "finding__select";
        button.textContent = text;
        button.title = "在图中选中 " + finding.element_id;
        button.addEventListener("click", function () {
          modeler.get("selection").select(element);
          modeler.get("canvas").scrollToElement(element);
        });
        item.appendChild(button);
      } else {
        item.textContent = text;
      }
      findingsList.appendChild(item);
    });
  }

  function check() {
    setEnabled(buttons.check, false);
    say("正在检查……");
    modeler.saveXML({ format: true }).then(function (saved) {
      var files = bundle(saved.xml);
      return post(config.check, { files: files }).then(function (answer) {
        if (!answer.ok) {
          say(answer.data.message || "检查失败（HTTP " + answer.status + "）", "error");
          return;
        }
        showFindings(answer.data);
        lastCheck = answer.data.ok ? { xml: saved.xml, files: files, checked_hash: answer.data.checked_hash } : null;
        say(answer.data.ok ? "检查通过，可以部署。" : "检查发现错误，请改正后重新检查。", answer.data.ok ? "ok" : "error");
      });
    }).catch(function () {
      say("检查请求失败，请稍后重试；图的修改仍在本页。", "error");
    }).then(function () {
      setEnabled(buttons.check, true);
      refreshButtons();
    });
  }

  function openDeploy() {
    if (!lastCheck) {
      return;
    }
    deployBox.hidden = false;
    reasonField.focus();
  }

  function deploy(event) {
    event.preventDefault();
    var reason = reasonField.value.trim();
    reasonError.hidden = !!reason;
    reasonError.textContent = reason ? "" : "请填写部署说明（为什么部署这个版本）";
    reasonField.setAttribute("aria-invalid", reason ? "false" : "true");
    if (!reason || !lastCheck) {
      reasonField.focus();
      return;
    }
    setEnabled(buttons.deploy, false);
    say("正在部署……");
    post(config.deploy, { files: lastCheck.files, checked_hash: lastCheck.checked_hash, reason: reason })
      .then(function (answer) {
        if (!answer.ok) {
          say(answer.data.message || "部署失败（HTTP " + answer.status + "）", "error");
          if (answer.data.details && answer.data.details.findings) {
            showFindings({ ok: false, errors: answer.data.details.findings.length, warnings: 0,
              findings: answer.data.details.findings });
          }
          return;
        }
        showResult(answer.data.deployed);
      })
      .catch(function () {
        say("部署请求失败，请稍后重试；图的修改仍在本页。", "error");
      })
      .then(refreshButtons);
  }

  function showResult(deployed) {
    resultBox.textContent = "";
    resultBox.hidden = false;
    var list = document.createElement("ul");
    deployed.forEach(function (item) {
      var li = document.createElement("li");
      li.setAttribute("data-process", item.process_id);
      li.textContent = item.process_id + "：" + (item.created ? "新版本 v" + item.version : "未变化（与 v" + item.version + " 相同）");
      list.appendChild(li);
    });
    var link = document.createElement("a");
    link.href = config.designer;
    link.textContent = "查看流程版本";
    resultBox.appendChild(list);
    resultBox.appendChild(link);
    deployBox.hidden = true;
    reasonField.value = "";
    lastCheck = null;
    dirty = false;
    say("部署完成。", "ok");
  }

  function download() {
    modeler.saveXML({ format: true }).then(function (saved) {
      var name = source.version === null ? processId() + ".bpmn" : source.filename;
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([saved.xml], { type: "application/xml" }));
      link.download = name;
      document.body.appendChild(link);
      link.click();
      link.remove();
      dirty = false;
      say("已下载 " + name + "。");
    });
  }

  /** Show the whole diagram in the part of the canvas the tool palette does not cover. */
  function fitBesidePalette() {
    var canvas = modeler.get("canvas");
    canvas.zoom("fit-viewport", "auto");
    var palette = container.querySelector(".djs-palette");
    var box = canvas.viewbox();
    if (!palette || !box.inner.width || !box.inner.height) {
      return;
    }
    var offset = palette.getBoundingClientRect().right - container.getBoundingClientRect().left + 12;
    var scale = Math.min((box.outer.width - offset - 12) / box.inner.width, (box.outer.height - 24) / box.inner.height);
    if (scale <= 0) {
      return;
    }
    var height = box.outer.height / scale;
    canvas.viewbox({ x: box.inner.x - offset / scale, y: box.inner.y - (height - box.inner.height) / 2,
      width: box.outer.width / scale, height: height });
  }

  buttons.check.addEventListener("click", check);
  buttons.deploy.addEventListener("click", openDeploy);
  buttons.undo.addEventListener("click", function () { commandStack.undo(); });
  buttons.redo.addEventListener("click", function () { commandStack.redo(); });
  buttons.download.addEventListener("click", download);
  deployForm.addEventListener("submit", deploy);
  document.getElementById("modeler-deploy-cancel").addEventListener("click", function () {
    deployBox.hidden = true;
    buttons.deploy.focus();
  });
  modeler.on("commandStack.changed", function (event) {
    if (event.trigger === "clear") {  // importing a diagram empties the stack: that is no edit
      refreshButtons();
      return;
    }
    dirty = true;
    if (lastCheck) {  // what gets deployed is what was checked: any edit asks for a new check
      lastCheck = null;
      deployBox.hidden = true;
      say("图已修改，部署前请重新检查。");
    }
    refreshButtons();
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  fetch(config.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    })
    .then(function (data) {
      source = data;
      return modeler.importXML(data.xml);
    })
    .then(function (result) {
      new window.HeduiPanel(modeler, document.getElementById("modeler-panel-body"), {
        formKeys: config.formKeys,
        roles: config.roles,
        onError: function (message) { say(message, "error"); }
      }).show(null);
      fitBesidePalette();
      container.setAttribute("data-state", "ready");
      setEnabled(buttons.check, true);
      setEnabled(buttons.download, true);
      refreshButtons();
      var warnings = (result && result.warnings) || [];
      say(warnings.length ? "图已打开，但有 " + warnings.length + " 处内容无法识别，部署前请检查。" : "图已打开。",
        warnings.length ? "error" : "info");
    })
    .catch(function () {
      container.setAttribute("data-state", "error");
      say("流程图加载失败，请刷新页面重试。", "error");
    });
})();
