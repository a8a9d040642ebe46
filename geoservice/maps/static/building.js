// The page shown while a map is being built: count the seconds, then load the map. The server holds the map's
// request (wait=1) until it is ready, and the browser keeps this page on screen meanwhile, so the reader sees
// progress instead of a blank page. No third-party code: the page works offline.
(function () {
  var status = document.getElementById("building");
  if (!status) { return; }
  var seconds = document.getElementById("building-seconds");
  var started = Date.now();
  window.setInterval(function () {
    seconds.textContent = String(Math.floor((Date.now() - started) / 1000));
  }, 250);
  // Only once this page is on screen: a request begun earlier would leave the previous page showing instead.
  window.addEventListener("load", function () {
    window.setTimeout(function () { window.location.replace(status.getAttribute("data-map-url")); }, 100);
  });
})();
