// The page shown while a map is being built: count the seconds, ask for the map (the server answers once it is
// built), then show it in place of this page, at the same address. Nothing leaves this page while it waits, so it
// stays on screen and keeps counting. No third-party code: the page works offline.
(function () {
  var status = document.getElementById("building");
  if (!status) { return; }
  var seconds = document.getElementById("building-seconds");
  var started = Date.now();
  var timer = window.setInterval(function () {
    seconds.textContent = String(Math.floor((Date.now() - started) / 1000));
  }, 250);
  window.fetch(status.getAttribute("data-map-url"), {credentials: "same-origin"}).then(function (response) {
    return response.text();
  }).then(function (page) {  // the map, or the error page saying what was wrong with the request
    window.clearInterval(timer);
    document.open();
    document.write(page);
    document.close();
  }).catch(function () {
    window.clearInterval(timer);
    status.querySelector("p").textContent = "The map could not be fetched (the connection dropped?): reload the " +
      "page to try again.";
  });
})();
