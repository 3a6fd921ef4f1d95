/* The intake wizard, progressively enhanced (every step also works without this script):
 * - resident ID numbers are checked as they are typed (GB 11643: address, birth date, ISO 7064 MOD 11-2
 *   check character); the server checks them again on every save;
 * - the step's form is saved to the server draft while typing (debounced), so a reload loses nothing;
 * - scans larger than the limit are refused before they are uploaded.
 * No personal data is written to the console, local storage or the URL.
 */
(function () {
  "use strict";

  var WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var CHECK_CHARS = "10X98765432";
  var PROVINCES = ("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 " +
                   "71 81 82 83").split(" ");
  var MESSAGES = {
    length: "身份证号码应为 18 位",
    digits: "身份证号码前 17 位应为数字",
    check_char: "身份证号码最后一位应为数字或 X",
    address: "身份证号码前 6 位不是有效的行政区划代码",
    birth_date: "身份证号码中的出生日期无效",
    birth_date_future: "身份证号码中的出生日期晚于今天",
    checksum: "身份证号码校验位不正确，请核对后重新填写"
  };

  function checkChar(first17) {
    var total = 0;
    for (var i = 0; i < 17; i++) { total += parseInt(first17.charAt(i), 10) * WEIGHTS[i]; }
    return CHECK_CHARS.charAt(total % 11);
  }

  /* {state: "empty" | "partial" | "ok" | "bad", message, birth, sex} — the same order of checks as forms/ids.py */
  function checkId(raw) {
    var value = raw.trim().toUpperCase();
    if (!value) { return {state: "empty"}; }
    if (!/^\d*$/.test(value.slice(0, 17))) { return {state: "bad", message: MESSAGES.digits}; }
    if (value.length < 18) { return {state: "partial", message: "已输入 " + value.length + " / 18 位"}; }
    if (value.length > 18) { return {state: "bad", message: MESSAGES.length}; }
    if (!/^[0-9X]$/.test(value.charAt(17))) { return {state: "bad", message: MESSAGES.check_char}; }
    if (PROVINCES.indexOf(value.slice(0, 2)) < 0) { return {state: "bad", message: MESSAGES.address}; }
    var y = parseInt(value.slice(6, 10), 10), m = parseInt(value.slice(10, 12), 10), d = parseInt(value.slice(12, 14), 10);
    var birth = new Date(y, m - 1, d);
    if (y < 1900 || birth.getFullYear() !== y || birth.getMonth() !== m - 1 || birth.getDate() !== d) {
      return {state: "bad", message: MESSAGES.birth_date};
    }
    if (birth > new Date()) { return {state: "bad", message: MESSAGES.birth_date_future}; }
    if (checkChar(value.slice(0, 17)) !== value.charAt(17)) { return {state: "bad", message: MESSAGES.checksum}; }
    var sex = parseInt(value.charAt(16), 10) % 2 === 1 ? "男" : "女";
    return {state: "ok", message: "校验通过：出生日期 " + value.slice(6, 10) + "-" + value.slice(10, 12) + "-" +
            value.slice(12, 14) + "，" + sex};
  }

  function showIdCheck(input) {
    var line = document.getElementById(input.id + "-check");
    if (!line) { return; }
    var result = checkId(input.value);
    line.textContent = result.message || "";
    line.className = "id-check" + (result.state === "empty" ? "" : " id-check--" + result.state);
    line.setAttribute("data-state", result.state);
    if (result.state === "bad") {
      input.setAttribute("aria-invalid", "true");
    } else if (!input.closest(".field--invalid")) {
      input.removeAttribute("aria-invalid");
    }
  }

  function bindIdChecks(root) {
    var inputs = root.querySelectorAll("input[data-id-check]");
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].addEventListener("input", function (event) { showIdCheck(event.target); });
      // a number the server refused already has its message under the field: saying it twice only clutters
      if (inputs[i].value && !document.getElementById(inputs[i].id + "-error")) { showIdCheck(inputs[i]); }
    }
  }

  function bindAutosave(form) {
    var url = form.getAttribute("data-autosave");
    var status = form.querySelector("[data-autosave-status]");
    var timer = null, pending = false, inFlight = false;
    if (!url || !window.fetch || !window.FormData) { return; }

    function save() {
      if (inFlight) { pending = true; return; }
      inFlight = true;
      pending = false;
      var body = new FormData(form);
      fetch(url, {method: "POST", body: body, credentials: "same-origin",
                  headers: {"Accept": "application/json", "X-CSRF-Token": body.get("csrf_token") || ""}})
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (answer) {
          if (status) { status.textContent = "草稿已自动保存（" + answer.saved_at + "）"; }
          form.setAttribute("data-autosaved", answer.saved_at);
        })
        .catch(function () { if (status) { status.textContent = "自动保存未成功，请点击「保存草稿」"; } })
        .then(function () { inFlight = false; if (pending) { save(); } });
    }

    function later() {
      form.removeAttribute("data-autosaved");
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(save, 600);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    form.addEventListener("submit", function () { if (timer) { clearTimeout(timer); } });
  }

  function bindFileLimit(root) {
    var inputs = root.querySelectorAll("input[type=file][data-max-bytes]");
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].addEventListener("change", function (event) {
        var input = event.target, limit = parseInt(input.getAttribute("data-max-bytes"), 10);
        var tooLarge = input.files && input.files[0] && input.files[0].size > limit;
        input.setCustomValidity(tooLarge ? "文件超过 " + Math.round(limit / 1048576) + " MB，请压缩后重新选择" : "");
        if (tooLarge) { input.reportValidity(); }
      });
    }
  }

  function bindConfirms(root) {
    var buttons = root.querySelectorAll("[data-confirm]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (event) {
        if (!window.confirm(event.currentTarget.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    }
  }

  function start() {
    bindIdChecks(document);
    bindFileLimit(document);
    bindConfirms(document);
    var forms = document.querySelectorAll("form[data-autosave]");
    for (var i = 0; i < forms.length; i++) { bindAutosave(forms[i]); }
    var summary = document.getElementById("form-errors");
    if (summary) { summary.focus(); }
  }

  window.HeduiIdCheck = checkId;  // exposed for the browser tests
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
