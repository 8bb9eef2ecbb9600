// The book's own script (loaded through html_js_files in _config.yml). Local only; nothing is fetched.
(function () {
  "use strict";
  var PHONE_MAX_PX = 768;   // below this viewport width, figures keep a minimum scale
  var MIN_SCALE = 0.7;      // 70 % of the natural size: 10 pt tick labels at 100 dpi stay near 10 px

  // 1. Search from file://: Sphinx fetches each result page to show a preview, which a browser refuses
  //    for file:// addresses (a CORS error per result). Opened from disk, show titles only, say so, and
  //    give the one-line command that serves the site with previews.
  if (window.location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
    DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
  }

  function searchNote() {
    if (window.location.protocol !== "file:") return;
    var results = document.getElementById("search-results");
    if (!results || document.querySelector(".graphon-search-note")) return;
    var note = document.createElement("p");
    note.className = "graphon-search-note";
    note.textContent = "Opened from disk: the results list page titles without previews. " +
      "For previews, serve the site: python -m http.server -d _build/html 8000, then open " +
      "http://localhost:8000/search.html";
    results.parentNode.insertBefore(note, results);
  }

  // 2. Figures: wrap each notebook output image in a scroll box; on a narrow screen, never show it
  //    below MIN_SCALE of its natural width.
  function wrap(img) {
    if (img.parentNode && img.parentNode.classList && img.parentNode.classList.contains("graphon-scroll")) {
      return img.parentNode;
    }
    var box = document.createElement("div");
    box.className = "graphon-scroll";
    img.parentNode.insertBefore(box, img);
    box.appendChild(img);
    return box;
  }

  function fit(img) {
    var box = wrap(img);
    if (!img.naturalWidth) return;
    var narrow = window.innerWidth < PHONE_MAX_PX;
    var minWidth = Math.round(MIN_SCALE * img.naturalWidth);
    if (narrow && box.clientWidth < minWidth) {
      img.classList.add("graphon-min-scale");
      img.style.width = minWidth + "px";
    } else {
      img.classList.remove("graphon-min-scale");
      img.style.width = "";
    }
  }

  function fitAll() {
    document.querySelectorAll("div.cell_output img").forEach(function (img) {
      wrap(img);
      if (img.complete) fit(img); else img.addEventListener("load", function () { fit(img); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    searchNote();
    fitAll();
  });
  window.addEventListener("resize", fitAll);
})();
