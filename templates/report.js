// Sortable tables: click a heading to sort by it; numeric cells sort by their data-v value.
(function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      th.setAttribute("role", "button");
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (row) {
          var cell = row.cells[col];
          if (!cell) return "";
          var v = cell.getAttribute("data-v");
          return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  // Rendered-size check read back by ci/check-report.sh from the dumped DOM.
  var charts = document.querySelectorAll("svg.chart");
  var visible = 0;
  charts.forEach(function (svg) {
    var r = svg.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) visible += 1;
  });
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-charts-visible", String(visible));
})();
