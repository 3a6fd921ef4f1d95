/*
 * The properties panel's form controls (plain DOM): a labelled input, select, textarea or checkbox with its
 * hint, its error message and, for text fields, a datalist of suggestions — accessible (label for, described
 * by the hint and the error) and committed on change, so one edit is one modeler command.
 */
(function () {
  "use strict";

  /**
   * One labelled control; ``commit(value)`` runs on change and may return a message (the value is refused:
   * shown next to the field, the control keeps what was typed so nothing is lost).
   */
  function field(container, key, label, kind, value, hint, commit, options, onError) {
    var id = "p-" + key;
    var wrap = document.createElement("div");
    wrap.className = "field panel__field";
    var labelEl = document.createElement("label");
    labelEl.htmlFor = id;
    labelEl.textContent = label;
    var control = makeControl(kind, id, value, options);
    var error = document.createElement("p");
    error.className = "field__error";
    error.id = id + "-error";
    error.hidden = true;
    var described = [];
    if (hint) {
      var hintEl = document.createElement("p");
      hintEl.className = "field__hint";
      hintEl.id = id + "-hint";
      hintEl.textContent = hint;
      described.push(hintEl.id);
    }
    described.push(error.id);
    control.setAttribute("aria-describedby", described.join(" "));
    if (kind === "checkbox") {
      wrap.className += " panel__field--checkbox";
      wrap.appendChild(control);
      wrap.appendChild(labelEl);
    } else {
      wrap.appendChild(labelEl);
      wrap.appendChild(control);
    }
    if (hint) {
      wrap.appendChild(hintEl);
    }
    if (kind === "text" && options && options.length) {
      wrap.appendChild(makeChoices(id + "-choices", options));
    }
    wrap.appendChild(error);
    control.addEventListener("change", function () {
      var next = kind === "checkbox" ? (control.checked ? "true" : "") : control.value.trim();
      var problem = commit(next);
      error.hidden = !problem;
      error.textContent = problem || "";
      wrap.classList.toggle("field--invalid", !!problem);
      control.setAttribute("aria-invalid", problem ? "true" : "false");
      if (problem) {
        onError(problem);
      }
    });
    container.appendChild(wrap);
  }

  function makeControl(kind, id, value, options) {
    var control;
    if (kind === "textarea") {
      control = document.createElement("textarea");
      control.rows = 3;
      control.value = value;
    } else if (kind === "select") {
      control = document.createElement("select");
      var keys = (options || []).slice();
      if (value && keys.indexOf(value) === -1) {
        keys.unshift(value);  // an unknown key stays visible (the check reports it)
      }
      [""].concat(keys).forEach(function (key) {
        var option = document.createElement("option");
        option.value = key;
        option.textContent = key || "（未设置）";
        option.selected = key === value;
        control.appendChild(option);
      });
    } else {
      control = document.createElement("input");
      control.type = kind === "number" ? "text" : kind;
      if (kind === "text" && options && options.length) {
        control.setAttribute("list", id + "-choices");
      }
      if (kind === "number") {
        control.inputMode = "numeric";
      }
      if (kind === "checkbox") {
        control.checked = value === "true";
      } else {
        control.value = value;
      }
    }
    control.id = id;
    control.name = id;
    return control;
  }

  /** A datalist of ``{code, name}`` suggestions for a text field (the value stays free text). */
  function makeChoices(id, options) {
    var list = document.createElement("datalist");
    list.id = id;
    options.forEach(function (choice) {
      var option = document.createElement("option");
      option.value = choice.code;
      option.label = choice.name;
      list.appendChild(option);
    });
    return list;
  }

  window.HeduiControls = { field: field };
})();
