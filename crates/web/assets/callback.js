// The portal's "Request a call back" form: times are read in the browser's own time zone,
// which the page cannot know; without JavaScript the customer's zone on record is used.
(function () {
  "use strict";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  document.querySelectorAll("input[data-browser-zone]").forEach(function (el) { el.value = zone; });
  var shown = document.getElementById("callback-zone-name");
  if (shown) shown.textContent = zone;
})();
