/*
 * The modeler's properties panel (plain JS): the selected element's id and name; for user tasks the
 * Hedui properties (spiffworkflow:properties) and the 办理说明 (bpmn:documentation); for the outgoing
 * flows of exclusive/inclusive gateways the condition and the default flow; with nothing selected,
 * the process's own id and name.
 *
 * Every edit goes through the modeler's modeling API (one command per field change), so 撤销/重做 and
 * the canvas stay in step with the panel. The controls themselves come from panel-controls.js.
 */
(function () {
  "use strict";

  var ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
  var USER_TASK_FIELDS = [
    { name: "formKey", label: "表单（formKey）", kind: "formKey", hint: "办理人员填写的表单，必填" },
    { name: "dueWorkingDays", label: "办理时限（工作日，dueWorkingDays）", kind: "number", hint: "1–366 个工作日；以定时事件为时限时留空" },
    { name: "sodNotSameAs", label: "不得由同一人办理的任务（sodNotSameAs）", kind: "text", hint: "同一流程内用户任务的 id，多个用英文逗号分隔" },
    { name: "sodRule", label: "职责分离规则名（sodRule）", kind: "text", hint: "如 SD-1、SD-2、SD-3" },
    { name: "dualControl", label: "双人复核（dualControl）", kind: "checkbox", hint: "须另一人确认 sodNotSameAs 中任务所准备的内容" },
    { name: "allowedDecisions", label: "可选的办理结论（allowedDecisions）", kind: "text", hint: "accept、return、terminate 中的若干个，用英文逗号分隔" },
    { name: "exchangeUnit", label: "数据交换单位表达式（exchangeUnit）", kind: "text", hint: "任务创建时计算的表达式，如 unit" }
  ];

  function isA(bo, type) {
    return !!bo && typeof bo.$instanceOf === "function" && bo.$instanceOf(type);
  }

  /** The bpmn:Process an element stands for (the root collaboration, a pool, or the process itself). */
  function processOf(bo) {
    if (isA(bo, "bpmn:Process")) {
      return bo;
    }
    if (isA(bo, "bpmn:Participant")) {
      return bo.processRef || null;
    }
    if (isA(bo, "bpmn:Collaboration")) {
      var withProcess = (bo.participants || []).filter(function (p) { return p.processRef; });
      return withProcess.length ? withProcess[0].processRef : null;
    }
    return null;
  }

  function isGatewayFlow(element) {
    return element.type === "bpmn:SequenceFlow" && element.source &&
      (element.source.type === "bpmn:ExclusiveGateway" || element.source.type === "bpmn:InclusiveGateway");
  }

  function HeduiPanel(modeler, container, options) {
    this._modeler = modeler;
    this._modeling = modeler.get("modeling");
    this._moddle = modeler.get("moddle");
    this._canvas = modeler.get("canvas");
    this._container = container;
    this._formKeys = options.formKeys || [];
    this._roles = options.roles || [];
    this._onError = options.onError || function () {};
    this._element = null;
    this._applying = false;
    var self = this;
    var eventBus = modeler.get("eventBus");
    eventBus.on("selection.changed", function (event) {
      self.show(event.newSelection.length === 1 ? event.newSelection[0] : null);
    });
    var registry = modeler.get("elementRegistry");
    eventBus.on("elements.changed", function (event) {
      var shown = self._element || self._canvas.getRootElement();
      if (self._applying || event.elements.indexOf(shown) === -1) {
        return;
      }
      // deleted (or its deletion undone elsewhere): fall back to the process
      self.show(self._element && !registry.get(self._element.id) ? null : self._element, true);
    });
  }

  /** Render the fields of ``element`` (null: the process); ``keepFocus`` re-focuses the same field. */
  HeduiPanel.prototype.show = function (element, keepFocus) {
    var focused = keepFocus && document.activeElement && this._container.contains(document.activeElement)
      ? document.activeElement.id : null;
    this._element = element;
    this._container.textContent = "";
    if (element && element.type === "label") {
      element = this._element = element.labelTarget;
    }
    if (!element) {
      this._renderProcess();
    } else {
      this._renderElement(element);
    }
    if (focused && document.getElementById(focused)) {
      document.getElementById(focused).focus();
    }
  };

  HeduiPanel.prototype._renderProcess = function () {
    var root = this._canvas.getRootElement();
    var process = root && processOf(root.businessObject);
    this._heading("流程");
    if (!process) {
      this._note("没有找到流程。");
      return;
    }
    var self = this;
    this._field("process-id", "流程 id", "text", process.id, "小写字母、数字和下划线；也是文件名", function (value) {
      return self._setProcessId(root, process, value);
    });
    this._field("process-name", "流程名称", "text", process.name || "", null, function (value) {
      self._apply(function () { self._modeling.updateModdleProperties(root, process, { name: value || undefined }); });
    });
  };

  HeduiPanel.prototype._renderElement = function (element) {
    var bo = element.businessObject;
    var self = this;
    this._heading(this._kind(element));
    this._field("element-id", "元素 id", "text", bo.id, null, function (value) {
      return self._setId(element, value);
    });
    var isLane = isA(bo, "bpmn:Lane");
    this._field("element-name", isLane ? "名称（角色代码）" : "名称", "text", bo.name || "",
      isLane ? "泳道名称即办理该泳道任务的角色代码，可从列表中选择" : null, function (value) {
        self._apply(function () { self._modeling.updateProperties(element, { name: value || undefined }); });
      }, isLane ? this._roles : null);
    var process = processOf(bo);
    if (isA(bo, "bpmn:Participant") && process) {
      this._field("process-id", "流程 id", "text", process.id, "小写字母、数字和下划线；也是文件名", function (value) {
        return self._setProcessId(element, process, value);
      });
    }
    if (isA(bo, "bpmn:UserTask")) {
      this._renderUserTask(element, bo);
    }
    if (isGatewayFlow(element)) {
      this._renderCondition(element, bo);
    }
  };

  HeduiPanel.prototype._renderUserTask = function (element, bo) {
    var self = this;
    this._field("documentation", "办理说明", "textarea", documentationOf(bo), "显示给办理人员的说明", function (value) {
      self._apply(function () { self._setDocumentation(element, bo, value); });
    });
    USER_TASK_FIELDS.forEach(function (field) {
      var value = propertyOf(bo, field.name);
      var kind = field.kind === "formKey" ? "select" : field.kind;
      self._field("prop-" + field.name, field.label, kind, value, field.hint, function (next) {
        if (field.kind === "number" && next !== "" && !/^\d+$/.test(next)) {
          return "请填写整数";
        }
        self._apply(function () { self._setProperty(element, bo, field.name, next); });
      }, field.kind === "formKey" ? self._formKeys : null);
    });
  };

  HeduiPanel.prototype._renderCondition = function (element, bo) {
    var self = this;
    var condition = bo.conditionExpression ? (bo.conditionExpression.body || "") : "";
    this._field("condition", "条件表达式", "textarea", condition, "如 decision == \"return\"；默认流不写条件", function (value) {
      self._apply(function () { self._setCondition(element, bo, value); });
    });
    var gateway = element.source;
    var isDefault = gateway.businessObject.default === bo;
    this._field("default-flow", "网关的默认流", "checkbox", isDefault ? "true" : "", "其他条件都不满足时走这条", function (value) {
      self._apply(function () { self._modeling.updateProperties(gateway, { "default": value ? bo : undefined }); });
    });
  };

  HeduiPanel.prototype._kind = function (element) {
    var names = { "bpmn:UserTask": "用户任务", "bpmn:SequenceFlow": "顺序流", "bpmn:ExclusiveGateway": "排他网关",
      "bpmn:InclusiveGateway": "包容网关", "bpmn:ParallelGateway": "并行网关", "bpmn:StartEvent": "开始事件",
      "bpmn:EndEvent": "结束事件", "bpmn:Lane": "泳道（名称即角色代码）", "bpmn:Participant": "池",
      "bpmn:ScriptTask": "脚本任务", "bpmn:CallActivity": "调用活动", "bpmn:SubProcess": "子流程" };
    return names[element.type] || element.type.replace("bpmn:", "");
  };

  // ---- edits (each one modeling command) ----

  HeduiPanel.prototype._apply = function (edit) {
    this._applying = true;
    try {
      edit();
    } finally {
      this._applying = false;
    }
  };

  HeduiPanel.prototype._idProblem = function (value, current) {
    if (value === current) {
      return "";
    }
    if (!ID_PATTERN.test(value)) {
      return "id 只能由字母、数字、下划线、点和连字符组成，且不能以数字开头";
    }
    var ids = this._moddle.ids;
    if ((ids && ids.assigned(value)) || this._modeler.get("elementRegistry").get(value)) {
      return "id " + value + " 已被使用";
    }
    return null;
  };

  HeduiPanel.prototype._setId = function (element, value) {
    var problem = this._idProblem(value, element.businessObject.id);
    if (problem !== null) {
      return problem;
    }
    var self = this;
    this._apply(function () { self._modeling.updateProperties(element, { id: value }); });
  };

  HeduiPanel.prototype._setProcessId = function (element, process, value) {
    var problem = this._idProblem(value, process.id);
    if (problem !== null) {
      return problem;
    }
    var self = this;
    var ids = this._moddle.ids;
    this._apply(function () {
      self._modeling.updateModdleProperties(element, process, { id: value });
      if (ids) {  // updateModdleProperties does not track ids (bpmn-js TODO)
        ids.claim(value, process);
      }
    });
  };

  HeduiPanel.prototype._setDocumentation = function (element, bo, text) {
    var docs = bo.documentation || [];
    if (!text) {
      if (docs.length) {
        this._modeling.updateModdleProperties(element, bo, { documentation: [] });
      }
    } else if (docs.length) {
      this._modeling.updateModdleProperties(element, docs[0], { text: text });
    } else {
      var doc = this._moddle.create("bpmn:Documentation", { text: text });
      doc.$parent = bo;
      this._modeling.updateModdleProperties(element, bo, { documentation: [doc] });
    }
  };

  HeduiPanel.prototype._setCondition = function (element, bo, text) {
    if (!text) {
      if (bo.conditionExpression) {
        this._modeling.updateProperties(element, { conditionExpression: undefined });
      }
    } else if (bo.conditionExpression) {
      this._modeling.updateModdleProperties(element, bo.conditionExpression, { body: text });
    } else {
      var expression = this._moddle.create("bpmn:FormalExpression", { body: text });
      expression.$parent = bo;
      this._modeling.updateProperties(element, { conditionExpression: expression });
    }
  };

  /** Set (or, with an empty value, remove) one ``spiffworkflow:property``, creating its containers as needed. */
  HeduiPanel.prototype._setProperty = function (element, bo, name, value) {
    var modeling = this._modeling;
    var moddle = this._moddle;
    var props = propertiesOf(bo);
    var item = props ? findProperty(props, name) : null;
    if (!value) {
      if (item) {
        modeling.updateModdleProperties(element, props, {
          values: props.values.filter(function (v) { return v !== item; })
        });
      }
      return;
    }
    if (item) {
      if (item.value !== value) {
        modeling.updateModdleProperties(element, item, { value: value });
      }
      return;
    }
    var created = moddle.create("spiffworkflow:Property", { name: name, value: value });
    if (props) {
      created.$parent = props;
      modeling.updateModdleProperties(element, props, { values: (props.values || []).concat([created]) });
      return;
    }
    props = moddle.create("spiffworkflow:Properties", { values: [created] });
    created.$parent = props;
    var ext = bo.extensionElements;
    if (ext) {
      props.$parent = ext;
      modeling.updateModdleProperties(element, ext, { values: (ext.values || []).concat([props]) });
    } else {
      ext = moddle.create("bpmn:ExtensionElements", { values: [props] });
      props.$parent = ext;
      ext.$parent = bo;
      modeling.updateModdleProperties(element, bo, { extensionElements: ext });
    }
  };

  // ---- rendering helpers ----

  HeduiPanel.prototype._heading = function (text) {
    var h = document.createElement("h3");
    h.className = "panel__kind";
    h.textContent = text;
    this._container.appendChild(h);
  };

  HeduiPanel.prototype._note = function (text) {
    var p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    this._container.appendChild(p);
  };

  HeduiPanel.prototype._field = function (key, label, kind, value, hint, commit, options) {
    window.HeduiControls.field(this._container, key, label, kind, value, hint, commit, options, this._onError);
  };

  function documentationOf(bo) {
    var docs = bo.documentation || [];
    return docs.length ? (docs[0].text || "") : "";
  }

  function propertiesOf(bo) {
    var ext = bo.extensionElements;
    var found = ((ext && ext.values) || []).filter(function (v) { return isA(v, "spiffworkflow:Properties"); });
    return found.length ? found[0] : null;
  }

  function findProperty(props, name) {
    var found = (props.values || []).filter(function (v) { return v.name === name; });
    return found.length ? found[0] : null;
  }

  function propertyOf(bo, name) {
    var props = propertiesOf(bo);
    var item = props && findProperty(props, name);
    return item ? (item.value || "") : "";
  }

  window.HeduiPanel = HeduiPanel;
})();
