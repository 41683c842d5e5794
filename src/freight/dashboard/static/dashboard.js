// Auto-refresh: fetch this page's <main> again every few seconds and swap it in, unless the
// user paused it or is reading an opened failed job. The server escapes every value.
(function () {
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  var box = document.getElementById("auto-refresh");
  if (!seconds || !box) { return; }
  setInterval(function () {
    if (!box.checked || document.querySelector("main details[open]")) { return; }
    fetch(window.location.href, { headers: { "X-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) { if (text !== null) { document.querySelector("main").innerHTML = text; } })
      .catch(function () {});
  }, seconds * 1000);
})();
