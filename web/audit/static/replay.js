/*
 * The replay page's keyboard steps: ← and → follow the previous/next links (rel="prev"/"next"),
 * unless the focus is in a form control. The links themselves work without JavaScript.
 */
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    var target = event.target;
    if (target && /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName)) {
      return;
    }
    var link = null;
    if (event.key === "ArrowLeft") {
      link = document.getElementById("step-prev");
    } else if (event.key === "ArrowRight") {
      link = document.getElementById("step-next");
    }
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  });
})();
